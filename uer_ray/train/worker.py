"""The pre-training loop that runs on every Ray Train worker (DDP; one process per worker).

Reads like a story: build the model, restore a checkpoint if Ray hands one over (a restart after
a failure, a resize of an elastic run, or ``--resume``), then take optimiser steps over
micro-batches streamed from Ray Data, sending log lines from rank 0 to the driver and reporting
checkpoints through ``ray.train.report``. Every worker calls ``report`` the same number of times
(it is a barrier); only rank 0 attaches a checkpoint. A log line is also written at every
checkpoint, so that the counters a checkpoint holds (tokens, sequences) are those of a line.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

import torch

from uer_ray.train import state as st
from uer_ray.train.batches import ShardAhead, micro_batches
from uer_ray.train.driver import WorkerLink
from uer_ray.train.optim import build_optimizer, build_scheduler
from uer_ray.train.reporting import RankZeroLog, Window
from uer_ray.train.specs import PretrainSpec


def pretrain_worker(spec: PretrainSpec, link: WorkerLink) -> None:
    """Entry point for ``uer_ray.train.driver.fit`` (``spec``: ``pretrain.worker_spec``)."""
    import ray.train

    from uer_ray.plugins import restore

    restore(spec.plugins)
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    data = ShardAhead(spec.stream)  # Ray Data starts while the model is built
    device = _device(spec)
    model, trainer_state = _load_model(spec)
    model.to(device)
    if spec.compile:
        model.compile()  # in place: parameter names (and checkpoints) stay the same
    net = _parallel(model, device, world)
    sched = spec.schedule
    optimizer = build_optimizer(model, lr=sched.lr, weight_decay=sched.weight_decay,
                                bias_correction=sched.adam_bias_correction)
    scheduler = build_scheduler(optimizer, kind=sched.kind, warmup_steps=sched.warmup_steps,
                                total_steps=sched.steps)
    pos = st.Position()
    if trainer_state is not None:
        pos = st.restore(trainer_state, optimizer=optimizer, scheduler=scheduler)
    pos = pos.resized(world)
    log = RankZeroLog(spec, link, rank, world, pos)
    try:
        _train(spec, model, net, optimizer, scheduler, pos, log, device, rank, world, data)
    finally:
        log.close()


def _train(spec: PretrainSpec, model, net, optimizer, scheduler, pos, log, device, rank, world,
           data: ShardAhead) -> None:
    collator = _collator(spec, rank)
    shard, rows = data.get()
    batches = micro_batches(shard, collator, pos, spec.stream, rank, rows=rows)
    accum, steps = spec.schedule.grad_accum, spec.schedule.steps
    window = Window()
    autocast = _autocast(spec, device)
    net.train()
    while pos.step < steps:
        st.reseed(spec.seed, rank, pos.step)  # dropout depends on (seed, rank, step) only
        for i in range(accum):
            pos.epoch, pos.batches_in_epoch, batch = next(batches)
            pos.micro_batches += 1
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            # DDP all-reduces gradients on the last micro-batch of the update only.
            sync = i == accum - 1 or world == 1
            with contextlib.nullcontext() if sync else net.no_sync(), autocast:
                out = net(batch)
            (out.loss / accum).backward()
            window.add(out.metrics, tokens=int((batch["segment_ids"] != 0).sum()),
                       rows=int(batch["segment_ids"].shape[0]))
        if spec.schedule.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), spec.schedule.clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        pos.step += 1
        if spec.on_step is not None:
            spec.on_step(rank, pos.step)
        save = pos.step % spec.save_every == 0 or pos.step == steps
        if save or pos.step % spec.log_every == 0:
            log.record(pos, window.reduce(world), lr=scheduler.get_last_lr()[0])
            window = Window()
        if save:
            _report(spec, model, optimizer, scheduler, pos, log, rank)


def _report(spec: PretrainSpec, model, optimizer, scheduler, pos, log, rank) -> None:
    """Checkpoint through Ray Train: rank 0 writes and attaches it; everyone calls report."""
    import ray.train
    from ray.train import Checkpoint

    metrics = {**log.last, "step": pos.step}
    name = f"checkpoint_{pos.step:08d}"
    if rank != 0:
        ray.train.report(metrics, checkpoint=None, checkpoint_dir_name=name)
        return
    tmp = Path(tempfile.mkdtemp(prefix="uer-ckpt-"))
    try:
        _save(spec, model, optimizer, scheduler, pos, tmp, log.last)
        ray.train.report(
            metrics, checkpoint=Checkpoint.from_directory(tmp), checkpoint_dir_name=name
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _save(spec: PretrainSpec, model, optimizer, scheduler, pos, directory: Path, last: dict) -> None:
    from uer_ray.models import save_pretrained

    meta = {**spec.meta, "step": pos.step, "epoch": pos.epoch, "metrics": last,
            "workers": pos.world, "effective_batch_size": spec.rows_per_step * pos.world}
    save_pretrained(model, directory / st.MODEL_DIR, tokenizer=spec.tokenizer, meta=meta,
                    tgt_tokenizer=spec.tgt_tokenizer)
    st.save_state(directory, optimizer=optimizer, scheduler=scheduler, position=pos, seed=spec.seed)


def _load_model(spec: PretrainSpec):
    """The model, from Ray's latest checkpoint if there is one, else fresh (+ ``--init`` weights).

    Returns (model, trainer state or None)."""
    import ray.train

    from uer_ray.models import build_model, load_state, load_weights

    torch.manual_seed(spec.seed)  # the same initial weights on every rank and every run
    model = build_model(spec.model_config)
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            model.load_state_dict(load_state(Path(d) / st.MODEL_DIR))
            return model, st.load_state(d)
    if spec.init:
        # Stage 2 (UER §3.4): continue from an earlier checkpoint's weights, heads included when
        # they match; a fresh optimiser and schedule.
        load_weights(model, spec.init, prefixes=("embedding.", "encoder.", "targets."))
    return model, None


def _parallel(model, device, world):
    if world == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def _collator(spec: PretrainSpec, rank: int):
    from uer_ray.data import Collator

    return Collator.from_tokenizer(spec.tokenizer, masking=spec.masking, seed=spec.seed, rank=rank)


def _device(spec: PretrainSpec) -> torch.device:
    if spec.use_gpu:
        import ray.train.torch

        return ray.train.torch.get_device()
    return torch.device("cpu")


def _autocast(spec: PretrainSpec, device: torch.device):
    # bf16 autocast on GPUs only: CPU bf16 matmuls are slower than fp32 on most CPUs.
    if device.type == "cuda" and spec.bf16:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
