"""Fine-tuning on Ray Train workers with DDP (``finetune --workers N``).

The driver encodes the data once and gives each worker only its share through the object store
(example ``i`` goes to worker ``i % N``), plus the token counts of all examples, from which every
worker rebuilds the same epoch plan as the in-process run. Rank 0 alone receives the starting
weights (DDP broadcasts them to the others when it wraps the model) and the dev set; it
evaluates dev after each epoch, hands the epoch's record to the driver (``driver.emit``), and
reports the best weights at the end. ``uer_ray.tasks.loop`` explains why the run trains the same
model as the in-process one.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path


def finetune_worker(config: dict) -> None:
    """The per-worker loop (``uer_ray.train.driver.fit`` runs it on every worker)."""
    import ray
    import ray.train
    import torch

    from uer_ray.models import build_model
    from uer_ray.tasks.checkpoint import TaskSettings, build_finetune_model, build_task
    from uer_ray.tasks.loop import Hyperparameters, Runtime, WorkerShare, fit
    from uer_ray.train import driver
    from uer_ray.train.finetune import make_optimizer

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    hp = Hyperparameters(**config["hp"])
    device = ray.train.torch.get_device() if config["use_gpu"] else torch.device("cpu")
    runtime = Runtime(**{**config["runtime"], "device": str(device)})
    settings = TaskSettings(**config["settings"])
    task, labels = build_task(settings)
    torch.manual_seed(hp.seed + rank)  # dropout differs per worker; the weights come from rank 0
    ft = build_finetune_model(build_model(config["model_config"]), task, settings)
    if rank == 0:
        ft.load_state_dict(ray.get(config["state"]))
    if hp.freeze:
        ft.freeze_encoder()
    ft.to(device)
    share = None
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(ft, device_ids=[device.index] if device.type == "cuda" else None)
        local = {rank + world * k: k for k in range(config["part_sizes"][rank])}
        share = WorkerShare(rank=rank, world=world, local=local, net=net)
    train = ray.get(config["parts"][rank])
    dev = ray.get(config["dev"]) if rank == 0 else None
    optimizer, scheduler = make_optimizer(ft, hp, len(config["lengths"]))
    result = fit(ft, task, train, dev, labels, hp=hp, runtime=runtime, optimizer=optimizer,
                 scheduler=scheduler, lengths=config["lengths"], share=share,
                 on_epoch=lambda record: driver.emit(config, record), progress=False)
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

    from uer_ray.cluster import ensure_ray
    from uer_ray.errors import UerRayError
    from uer_ray.tasks.batching import lengths_of
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
        refs = [ray.put(part) for part in parts] + [ray.put(p.ft.state_dict()), ray.put(p.data["dev"])]
        config = {
            "settings": asdict(p.settings), "model_config": p.ft.model.config.to_dict(),
            "hp": asdict(p.hp), "use_gpu": use_gpu,
            "runtime": {"pad_id": p.tokenizer.pad_id, "vocab_size": p.tokenizer.vocab_size,
                        "bf16": o.bf16},
            "parts": refs[: o.workers], "part_sizes": [len(x) for x in parts],
            "lengths": lengths_of(train), "state": refs[-2], "dev": refs[-1],
        }
        result = driver.fit(
            finetune_worker, config, run=driver.RunSpec(out_dir=work, name=name),
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
            ray.shutdown()
