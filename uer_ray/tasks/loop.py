"""The fine-tuning epoch and the inference pass, in plain PyTorch.

Both the in-process fast path and each Ray Train worker run these functions; under DDP every
worker takes every ``world``-th batch of the same seeded order, so the workers see disjoint data
and take the same number of steps (DDP needs both).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from uer_ray.tasks.base import Task
from uer_ray.tasks.batching import POOL_BATCHES, eval_order, iterate, train_order


def train_epoch(
    model: nn.Module,
    head: nn.Module,
    task: Task,
    examples: Sequence[dict],
    *,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    batch_size: int,
    seed: int,
    pad_id: int,
    frozen_encoder: nn.Module | None = None,
    max_grad_norm: float = 1.0,
    rank: int = 0,
    world: int = 1,
    sync_grads: Callable[[list[nn.Parameter]], None] | None = None,
    progress: bool = True,
    desc: str = "train",
) -> dict[str, float]:
    """One pass over ``examples``; returns ``{"loss": mean training loss, "seconds": ...}``.

    ``model`` maps (input_ids, segment_ids) to the head's output; ``head`` is its head (for the
    task's loss). ``sync_grads(params)`` averages gradients across workers after each backward
    pass (data parallelism on Ray). A ``frozen_encoder`` is kept in eval mode, so dropout does
    not perturb the features the head learns from.
    """
    batches = train_order(examples, batch_size, seed)
    if world > 1:
        usable = len(batches) // world * world
        batches = batches[rank:usable:world]
    model.train()
    if frozen_encoder is not None:
        frozen_encoder.eval()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    total, steps, start = 0.0, 0, time.perf_counter()
    bar = tqdm(total=len(batches), desc=desc, unit="batch", disable=not progress, leave=False)
    for _, batch in iterate(examples, batches, pad_id):
        output = model(batch["input_ids"], batch["segment_ids"])
        loss = task.loss(head, output, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if sync_grads is not None:
            sync_grads(params)
        if max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"training loss became {value} (try a lower --lr)")
        total += value
        steps += 1
        bar.update(1)
        bar.set_postfix(loss=f"{total / steps:.4f}", refresh=False)
    bar.close()
    return {"loss": total / max(steps, 1), "seconds": time.perf_counter() - start, "steps": steps}


@torch.no_grad()
def predict(
    model: nn.Module,
    head: nn.Module,
    task: Task,
    examples: Sequence[dict],
    *,
    batch_size: int,
    pad_id: int,
    progress: bool = True,
    desc: str = "predict",
) -> list:
    """The task's predictions for ``examples``, in their original order."""
    model.eval()
    out: list = [None] * len(examples)
    batches = eval_order(examples, batch_size)
    bar = tqdm(total=len(examples), desc=desc, unit="ex", disable=not progress, leave=False)
    for index, batch in iterate(examples, batches, pad_id):
        output = model(batch["input_ids"], batch["segment_ids"])
        for i, p in zip(index, task.predict(head, output, batch), strict=True):
            out[i] = p
        bar.update(len(index))
    bar.close()
    return out


def evaluate(model: nn.Module, head: nn.Module, task: Task, examples: Sequence[dict], labels: Any,
             *, batch_size: int, pad_id: int, progress: bool = True, desc: str = "eval") -> dict:
    """The task's metrics on labelled ``examples``."""
    preds = predict(model, head, task, examples, batch_size=batch_size, pad_id=pad_id,
                    progress=progress, desc=desc)
    return task.metrics(examples, preds, labels)


def steps_per_epoch(n_examples: int, batch_size: int, world: int = 1) -> int:
    """Optimiser steps one worker takes per epoch (as ``train_epoch`` splits the batches).

    Length pooling can form a few more batches than ceil(n/b); count them the same way."""
    full, rest = divmod(n_examples, batch_size * POOL_BATCHES)
    batches = full * POOL_BATCHES + math.ceil(rest / batch_size)
    return max(1, batches // world) if world > 1 else batches


@dataclass
class FitResult:
    """What a fine-tuning run ends with: the best-on-dev weights and the per-epoch record."""

    best_state: dict[str, torch.Tensor] | None
    best_epoch: int
    best_dev: dict
    history: list[dict] = field(default_factory=list)
    stopped_early: bool = False


def scalars(metrics: dict, prefix: str) -> dict[str, float]:
    """The numeric top-level entries of ``metrics``, prefixed (for logs and Ray reports)."""
    return {f"{prefix}/{k}": float(v) for k, v in metrics.items() if isinstance(v, (int, float))}


def fit(
    ft: nn.Module,
    task: Task,
    train: Sequence[dict],
    dev: Sequence[dict],
    labels: Any,
    *,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    epochs: int,
    batch_size: int,
    seed: int,
    pad_id: int,
    patience: int = 0,
    frozen: bool = False,
    rank: int = 0,
    world: int = 1,
    sync_grads: Callable[[list[nn.Parameter]], None] | None = None,
    agree: Callable[[bool], bool] | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    progress: bool = True,
) -> FitResult:
    """Train ``ft`` (a ``FinetuneModel``) for up to ``epochs`` epochs, evaluate on dev after each
    (on rank 0 only), keep the best weights by ``task.select_metric``, and stop when dev has not
    improved for ``patience`` epochs (0: never stop early).

    On Ray workers ``sync_grads`` averages gradients (see ``train_epoch``) and ``agree(stop)`` turns rank 0's stop decision into every worker's; ``on_epoch(record)`` is
    called on every rank after each epoch (Ray workers report from it).
    """
    chief = rank == 0
    result = FitResult(None, 0, {})
    best_score, waited = -math.inf, 0
    for epoch in range(1, epochs + 1):
        stats = train_epoch(
            ft, ft.head, task, train, optimizer=optimizer, scheduler=scheduler,
            batch_size=batch_size, seed=seed + epoch, pad_id=pad_id,
            frozen_encoder=ft.model if frozen else None, rank=rank, world=world,
            sync_grads=sync_grads, progress=progress and chief, desc=f"epoch {epoch}/{epochs}",
        )
        record = {"epoch": epoch, "train/loss": stats["loss"], "epoch_seconds": stats["seconds"]}
        stop = False
        if chief:
            dev_metrics = evaluate(ft, ft.head, task, dev, labels, batch_size=batch_size,
                                   pad_id=pad_id, progress=progress, desc="dev")
            record.update(scalars(dev_metrics, "dev"))
            score = dev_metrics[task.select_metric]
            if score > best_score:
                best_score, waited = score, 0
                result.best_epoch, result.best_dev = epoch, dev_metrics
                result.best_state = {k: v.detach().clone() for k, v in ft.state_dict().items()}
            else:
                waited += 1
            stop = patience > 0 and waited >= patience
        result.history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if agree is not None:
            stop = agree(stop)
        if stop and epoch < epochs:
            result.stopped_early = True
            break
    return result
