"""Fine-tuning on Ray Train workers with DDP (``finetune --workers N``).

The driver encodes the data once and gives each worker only its share through the object store
(example ``i`` goes to worker ``i % N``), plus the token counts of all examples, from which every
worker rebuilds the same epoch plan as the in-process run. Rank 0 alone receives the starting
weights (DDP broadcasts them to the others when it wraps the model) and the dev set; it
evaluates dev after each epoch, hands the epoch's record to the driver (``WorkerLink.emit``), and
reports the best weights at the end. ``uer_ray.tasks.loop`` explains why the run trains the same
model as the in-process one.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from uer_ray.train.driver import WorkerLink
from uer_ray.train.specs import FinetuneSpec


def finetune_worker(spec: FinetuneSpec, link: WorkerLink) -> None:
    """The per-worker loop (``uer_ray.train.driver.fit`` runs it on every worker)."""
    import ray
    import ray.train
    import torch

    from uer_ray.models import build_model
    from uer_ray.plugins import restore
    from uer_ray.tasks.checkpoint import build_finetune_model, build_task
    from uer_ray.tasks.loop import WorkerShare, fit
    from uer_ray.train.optim import make_optimizer

    restore(spec.plugins)
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    hp = spec.hp
    device = ray.train.torch.get_device() if spec.use_gpu else torch.device("cpu")
    runtime = replace(spec.runtime, device=str(device))
    task, labels = build_task(spec.settings)
    torch.manual_seed(hp.seed + rank)  # dropout differs per worker; the weights come from rank 0
    model = build_model(spec.model_config)
    model.tokenizer, model.tgt_tokenizer = spec.tokenizers
    ft = build_finetune_model(model, task, spec.settings)
    if rank == 0:
        ft.load_state_dict(ray.get(spec.state))
    if hp.freeze:
        ft.freeze_encoder()
    ft.to(device)
    share = None
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(ft, device_ids=[device.index] if device.type == "cuda" else None)
        local = {rank + world * k: k for k in range(spec.part_sizes[rank])}
        share = WorkerShare(rank=rank, world=world, local=local, net=net)
    train = ray.get(spec.parts[rank])
    dev = ray.get(spec.dev) if rank == 0 else None
    optimizer, scheduler = make_optimizer(ft, hp, len(spec.lengths))
    result = fit(ft, task, train, dev, labels, hp=hp, runtime=runtime, optimizer=optimizer,
                 scheduler=scheduler, lengths=list(spec.lengths), share=share,
                 on_epoch=link.emit, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = None
        if rank == 0:
            torch.save(result.best_state, Path(tmp) / "weights.pt")
            (Path(tmp) / "fit.json").write_text(json.dumps(result.summary()), encoding="utf-8")
            checkpoint = ray.train.Checkpoint.from_directory(tmp)
        ray.train.report({"done": 1}, checkpoint=checkpoint)


def train_on_ray(o, p, *, on_epoch) -> tuple[dict, str]:
    """Run ``finetune_worker`` on ``o.workers`` workers; load the best weights into ``p.ft``.
    Returns (fit summary, device of the workers)."""
    import ray
    import torch

    from uer_ray.cluster import ensure_ray, stop_ray
    from uer_ray.errors import UerRayError
    from uer_ray.plugins import loaded
    from uer_ray.tasks.batching import lengths_of
    from uer_ray.tasks.loop import Runtime
    from uer_ray.train import driver
    from uer_ray.train.devices import ray_workers_use_gpu

    started = ensure_ray(o.address)
    work = Path(f"{Path(o.out).absolute()}.ray-work")
    name = o.run_name or "finetune"
    try:
        driver.clear_run(work, name)
        use_gpu = ray_workers_use_gpu(o.device, o.workers)
        train = p.data["train"]
        parts = [train[r :: o.workers] for r in range(o.workers)]
        spec = FinetuneSpec(
            settings=p.settings, model_config=p.ft.model.config.to_dict(), hp=p.hp,
            runtime=Runtime(pad_id=p.tokenizer.pad_id, vocab_size=p.tokenizer.vocab_size,
                            bf16=o.bf16),
            use_gpu=use_gpu, parts=tuple(ray.put(part) for part in parts),
            part_sizes=tuple(len(x) for x in parts), lengths=tuple(lengths_of(train)),
            state=ray.put(p.ft.state_dict()), dev=ray.put(p.data["dev"]), plugins=loaded(),
            tokenizers=(p.tokenizer, p.ft.model.tgt_tokenizer))
        result = driver.fit(
            finetune_worker, spec, run=driver.RunSpec(out_dir=work, name=name),
            workers=driver.WorkerSpec(workers=o.workers, use_gpu=use_gpu,
                                      cpus_per_worker=o.cpus_per_worker,
                                      cpus_budget=o.cpus_budget),
            on_record=on_epoch)
        if getattr(result, "error", None):
            raise UerRayError(f"fine-tuning on Ray failed: {result.error}")
        with result.checkpoint.as_directory() as d:
            state = torch.load(Path(d) / "weights.pt", weights_only=True)
            fitted = json.loads((Path(d) / "fit.json").read_text(encoding="utf-8"))
        if state is not None:
            p.ft.load_state_dict(state)
        return fitted, "cuda" if use_gpu else "cpu"
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if started:
            stop_ray()
