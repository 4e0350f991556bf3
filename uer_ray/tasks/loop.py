"""The fine-tuning epoch and the inference pass, in plain PyTorch.

The in-process run and every Ray Train worker run the same functions over the same epoch plan:
index batches of all training examples, rebuilt from (lengths, batch size, seed + epoch). In
process a batch is trained whole. On Ray each worker holds only its share of the examples
(``WorkerShare``: example ``i`` lives on worker ``i % world``) and computes the rows of each
batch that it holds; its loss is weighted by its share of the batch, so the gradient that DDP
averages is exactly the whole batch's gradient. ``--workers N`` therefore trains the same model
as ``--workers 0`` (up to dropout draws and float summation order), only spread over N workers.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from uer_ray.records import numeric
from uer_ray.tasks.base import Task
from uer_ray.tasks.batching import POOL_BATCHES, collate, eval_order, lengths_of, train_order


@dataclass(frozen=True, kw_only=True)
class Hyperparameters:
    """What fine-tuning optimises with, all resolved (``lr`` is a number here)."""

    epochs: int
    batch_size: int
    """rows per micro-batch of the whole run, however many workers share it"""
    lr: float
    warmup: float = 0.1
    """fraction of the optimiser steps spent warming up"""
    weight_decay: float = 0.01
    adam_bias_correction: bool = False
    """torch's AdamW; False: BERT's and UER-py's update (``optim.BertAdamW``)"""
    grad_accum: int = 1
    """micro-batches per optimiser step"""
    max_grad_norm: float = 1.0
    patience: int = 0
    """stop after this many epochs without a better dev score (0: never)"""
    seed: int = 7
    freeze: bool = False

    def optimizer_steps(self, n_examples: int) -> int:
        """Optimiser steps of the whole run (the schedule's length)."""
        return math.ceil(batches_per_epoch(n_examples, self.batch_size) / self.grad_accum) * self.epochs


@dataclass(frozen=True, kw_only=True)
class Runtime:
    """Values that come from the data and the machine, not from the user's choices."""

    pad_id: int
    vocab_size: int
    device: str = "cpu"
    bf16: bool = True
    """bf16 autocast of the encoder on a GPU (CPUs run float32)"""

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device)

    def autocast(self):
        if self.torch_device.type == "cuda" and self.bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()


@dataclass
class WorkerShare:
    """One Ray worker's part of a data-parallel run: the examples it holds and how it agrees
    with the others (``torch.distributed`` is initialised by Ray Train)."""

    rank: int
    world: int
    local: dict[int, int]
    """global example index -> index in this worker's examples"""
    net: nn.Module
    """the ``DistributedDataParallel`` wrapper of the fine-tuning model"""

    def rows(self, index: Sequence[int]) -> list[int]:
        return [self.local[i] for i in index if i in self.local]

    def sum(self, values: list[float]) -> list[float]:
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return t.tolist()

    def agree(self, stop: bool) -> bool:
        """Rank 0's early-stopping decision, on every worker."""
        import torch.distributed as dist

        flag = torch.tensor([1 if stop else 0])
        dist.broadcast(flag, src=0)
        return bool(flag.item())


def batches_per_epoch(n_examples: int, batch_size: int) -> int:
    """Batches ``train_order`` forms per epoch (length pooling can form a few more than
    ceil(n/b); count them the same way)."""
    full, rest = divmod(n_examples, batch_size * POOL_BATCHES)
    return full * POOL_BATCHES + math.ceil(rest / batch_size)


def _to(batch: dict, device: torch.device) -> dict:
    if device.type == "cpu":
        return batch
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def train_epoch(
    ft: nn.Module,
    task: Task,
    examples: Sequence[dict],
    plan: list[list[int]],
    *,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    hp: Hyperparameters,
    runtime: Runtime,
    share: WorkerShare | None = None,
    progress: bool = True,
    desc: str = "train",
) -> dict[str, float]:
    """One pass over ``plan`` (index batches); returns the mean training loss, seconds and
    optimiser steps. ``ft`` is a ``FinetuneModel``; a frozen encoder stays in eval mode so that
    dropout does not perturb the features the head learns from."""
    net = share.net if share is not None else ft
    device = runtime.torch_device
    ft.train()
    if hp.freeze:
        ft.model.eval()
    params = [p for p in ft.parameters() if p.requires_grad]
    loss_sum, loss_count, steps, start = 0.0, 0.0, 0, time.perf_counter()
    bar = tqdm(total=len(plan), desc=desc, unit="batch", disable=not progress, leave=False)
    for first in range(0, len(plan), hp.grad_accum):
        group = plan[first : first + hp.grad_accum]
        for i, index in enumerate(group):
            rows = share.rows(index) if share is not None else list(index)
            # A worker may hold no row of a small batch: it still joins DDP's all-reduce, with
            # one of its rows weighted zero.
            batch = _to(collate([examples[j] for j in rows or [0]], runtime.pad_id), device)
            sync = i == len(group) - 1 or share is None
            with contextlib.nullcontext() if sync else net.no_sync():
                with runtime.autocast():
                    output = task.forward(net, batch)
                loss = task.loss(ft.head, output.float(), batch)
                count = float(task.loss_count(ft.head, batch)) if rows else 0.0
                if share is not None:
                    total_count, total = share.sum([count, float(loss.detach()) * count])
                    weight = count * share.world / max(total_count, 1e-12)
                else:
                    total_count, total, weight = count, float(loss.detach()) * count, 1.0
                (loss * (weight / len(group))).backward()
            if not math.isfinite(total):
                raise FloatingPointError(f"training loss became {total / max(total_count, 1)} "
                                         "(try a lower --lr)")
            loss_sum, loss_count = loss_sum + total, loss_count + total_count
            bar.update(1)
        if hp.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, hp.max_grad_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        steps += 1
        bar.set_postfix(loss=f"{loss_sum / max(loss_count, 1e-12):.4f}", refresh=False)
    bar.close()
    return {"loss": loss_sum / max(loss_count, 1e-12), "seconds": time.perf_counter() - start,
            "steps": steps}


@torch.no_grad()
def predict(
    model: nn.Module,
    head: nn.Module,
    task: Task,
    examples: Sequence[dict],
    *,
    batch_size: int,
    pad_id: int,
    runtime: Runtime | None = None,
    progress: bool = True,
    desc: str = "predict",
) -> list:
    """The task's predictions for ``examples``, in their original order (a ``generative``
    task's are the texts the model writes)."""
    if task.generative:
        return task.generate_predictions(model, examples, batch_size=batch_size,
                                         runtime=runtime or Runtime(pad_id=pad_id, vocab_size=0),
                                         progress=progress, desc=desc)
    device = runtime.torch_device if runtime is not None else torch.device("cpu")
    autocast = runtime.autocast() if runtime is not None else contextlib.nullcontext()
    model.eval()
    out: list = [None] * len(examples)
    batches = eval_order(lengths_of(examples), batch_size)
    bar = tqdm(total=len(examples), desc=desc, unit="ex", disable=not progress, leave=False)
    for index in batches:
        batch = _to(collate([examples[i] for i in index], pad_id), device)
        with autocast:
            output = task.forward(model, batch)
        for i, p in zip(index, task.predict(head, output.float(), batch), strict=True):
            out[i] = p
        bar.update(len(index))
    bar.close()
    return out


def evaluate(model: nn.Module, head: nn.Module, task: Task, examples: Sequence[dict], labels: Any,
             *, batch_size: int, pad_id: int, runtime: Runtime | None = None,
             progress: bool = True, desc: str = "eval") -> dict:
    """The task's metrics on labelled ``examples``."""
    preds = predict(model, head, task, examples, batch_size=batch_size, pad_id=pad_id,
                    runtime=runtime, progress=progress, desc=desc)
    return task.metrics(examples, preds, labels)


@dataclass
class FitResult:
    """What a fine-tuning run ends with: the best-on-dev weights and the per-epoch record."""

    best_state: dict[str, torch.Tensor] | None
    best_epoch: int
    best_dev: dict
    history: list[dict] = field(default_factory=list)
    stopped_early: bool = False

    def summary(self) -> dict:
        """Everything but the weights, as plain values."""
        return {"best_epoch": self.best_epoch, "best_dev": self.best_dev,
                "history": self.history, "stopped_early": self.stopped_early}


def fit(
    ft: nn.Module,
    task: Task,
    train: Sequence[dict],
    dev: Sequence[dict] | None,
    labels: Any,
    *,
    hp: Hyperparameters,
    runtime: Runtime,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    lengths: Sequence[int] | None = None,
    share: WorkerShare | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    progress: bool = True,
) -> FitResult:
    """Train ``ft`` (a ``FinetuneModel``) for up to ``hp.epochs`` epochs, evaluate on dev after
    each (on rank 0 only: other workers pass ``dev=None``), keep the best weights by
    ``task.select_metric``, and stop when dev has not improved for ``hp.patience`` epochs.

    ``lengths`` are the token counts of all training examples (on a Ray worker ``train`` holds
    only its share, see ``WorkerShare``). ``on_epoch(record)`` is called on rank 0 after each
    epoch with ``epoch``, ``train/loss``, ``epoch_seconds``, ``optimizer_steps`` and the
    ``dev/*`` metrics.
    """
    chief = share is None or share.rank == 0
    lengths = list(lengths) if lengths is not None else lengths_of(train)
    result = FitResult(None, 0, {})
    best_score, waited, steps = -math.inf, 0, 0
    for epoch in range(1, hp.epochs + 1):
        plan = train_order(lengths, hp.batch_size, hp.seed + epoch)
        stats = train_epoch(ft, task, train, plan, optimizer=optimizer, scheduler=scheduler, hp=hp,
                            runtime=runtime, share=share, progress=progress and chief,
                            desc=f"epoch {epoch}/{hp.epochs}")
        steps += stats["steps"]
        record = {"epoch": epoch, "train/loss": stats["loss"], "epoch_seconds": stats["seconds"],
                  "optimizer_steps": steps}
        stop = False
        if chief:
            dev_metrics = evaluate(ft, ft.head, task, dev, labels, batch_size=hp.batch_size,
                                   pad_id=runtime.pad_id, runtime=runtime, progress=progress,
                                   desc="dev")
            record.update(numeric(dev_metrics, "dev"))
            score = dev_metrics[task.select_metric]
            if score > best_score:
                best_score, waited = score, 0
                result.best_epoch, result.best_dev = epoch, dev_metrics
                result.best_state = {k: v.detach().to("cpu", copy=True)
                                     for k, v in ft.state_dict().items()}
            else:
                waited += 1
            stop = hp.patience > 0 and waited >= hp.patience
            result.history.append(record)
            if on_epoch is not None:
                on_epoch(record)
        if share is not None:
            stop = share.agree(stop)
        if stop and epoch < hp.epochs:
            result.stopped_early = True
            break
    return result
