"""Running a per-worker training loop on Ray Train (V2 ``TorchTrainer``): one way for
pre-training and fine-tuning to use Ray.

``fit(loop, config, out_dir=..., name=...)`` sizes the workers so that they never starve Ray Data
read tasks (on a 2-CPU machine two 1-CPU workers leave nothing for reads and the run hangs; see
RAY_NOTES), chooses gloo on CPU and nccl on GPU, keeps checkpoints under ``out_dir/ray`` (an
absolute path, as Ray requires), restarts failed workers from the latest checkpoint and keeps the
last K checkpoints. Calling ``fit`` again with the same ``out_dir`` and ``name`` resumes a stopped
run from its latest checkpoint (Ray's run snapshot).

Inside the loop, use ``ray.train.get_checkpoint()``, ``ray.train.get_dataset_shard("train")`` and
``ray.train.report`` as usual. Each worker runs with torch threads set (``worker_threads``) and
denormals flushed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uer_ray.errors import UerRayError

# Environment variables the workers must see as the driver does (W&B offline mode, its folder).
_FORWARDED_ENV = (
    "WANDB_MODE",
    "WANDB_DIR",
    "WANDB_SILENT",
    "WANDB_API_KEY",
    "WANDB_PROJECT",
    "WANDB_ENTITY",
    "WANDB_BASE_URL",
    "TOKENIZERS_PARALLELISM",
    "HF_HUB_OFFLINE",
)


@dataclass(frozen=True, kw_only=True)
class WorkerSpec:
    """How many training workers and what each one holds.

    ``cpus_per_worker=None`` picks 1 CPU per worker when that leaves at least one whole CPU for
    Ray Data (whenever datasets are streamed), and a fraction otherwise.
    """

    workers: int = 1
    use_gpu: bool = False
    cpus_per_worker: float | None = None
    backend: str | None = None  # None: nccl with GPUs, gloo on CPU


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """Where a run lives and how it survives failures."""

    out_dir: str | Path
    name: str
    max_failures: int = 2
    keep_checkpoints: int | None = 2
    env: dict[str, str] = field(default_factory=dict)


def storage_path(out_dir: str | Path) -> Path:
    """The Ray Train storage folder of a run whose outputs go to ``out_dir``."""
    return Path(out_dir).expanduser().absolute() / "ray"


def run_folder(out_dir: str | Path, name: str) -> Path:
    """Ray Train's folder for run ``name`` (checkpoints and the run snapshot)."""
    return storage_path(out_dir) / name


def has_run(out_dir: str | Path, name: str) -> bool:
    """Whether ``out_dir`` already holds a (possibly stopped) run called ``name``."""
    folder = run_folder(out_dir, name)
    return folder.is_dir() and any(folder.iterdir())


def clear_run(out_dir: str | Path, name: str) -> None:
    """Forget a previous run called ``name`` so that the next ``fit`` starts fresh."""
    shutil.rmtree(run_folder(out_dir, name), ignore_errors=True)


def cpus_per_worker(spec: WorkerSpec, total_cpus: float, streams_data: bool) -> float:
    """CPUs to reserve per worker out of ``total_cpus`` logical CPUs in the cluster.

    Ray Data read tasks each need a whole CPU; when data is streamed at least one must stay free.
    """
    if spec.cpus_per_worker is not None:
        return float(spec.cpus_per_worker)
    free_needed = 1.0 if streams_data else 0.0
    room = total_cpus - free_needed
    if room <= 0:
        raise UerRayError(
            f"the Ray cluster has {total_cpus:g} CPU(s): not enough to run training workers "
            "and stream data; add CPUs or pass an explicit CPU count per worker"
        )
    if spec.workers * 1.0 <= room:
        return 1.0
    # Round down to a hundredth so that the sum never exceeds the room left.
    return max(0.01, int(100 * room / spec.workers) / 100)


def worker_threads(config: dict) -> int:
    """Torch intra-op threads for this worker: its reserved CPUs when given explicitly, else the
    node's cores shared among the workers on that node (logical CPUs may outnumber cores)."""
    if config.get("_cpus_per_worker"):
        return max(1, int(config["_cpus_per_worker"]))
    import ray.train

    local = max(1, ray.train.get_context().get_local_world_size())
    return max(1, (os.cpu_count() or 1) // local)


def _wrap(loop: Callable[[dict], Any]) -> Callable[[dict], Any]:
    def per_worker(config: dict) -> Any:
        import torch

        torch.set_num_threads(worker_threads(config))
        # Denormal floats make CPU matmuls many times slower late in training; flush them to 0.
        torch.set_flush_denormal(True)
        return loop(config)

    per_worker.__name__ = getattr(loop, "__name__", "train_loop")
    return per_worker


def _forwarded_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: os.environ[k] for k in _FORWARDED_ENV if k in os.environ}
    env.update(extra)
    return env


def fit(
    loop: Callable[[dict], Any],
    config: dict,
    *,
    run: RunSpec,
    workers: WorkerSpec | None = None,
    datasets: dict[str, Any] | None = None,
    dataset_config: Any = None,
) -> Any:
    """Run ``loop(config)`` on every worker of a ``TorchTrainer``; returns Ray's ``Result``.

    Ray must already be initialised (``uer_ray.cluster.ensure_ray``). A run folder left by an
    earlier ``fit`` with the same ``run.out_dir``/``run.name`` is resumed from its latest
    checkpoint; call ``clear_run`` first to start over.
    """
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    workers = workers or WorkerSpec()
    if workers.workers < 1:
        raise UerRayError(f"need at least 1 worker, got {workers.workers}")
    total = float(ray.cluster_resources().get("CPU", 0))
    cpus = cpus_per_worker(workers, total, streams_data=bool(datasets))
    config = {**config, "_cpus_per_worker": workers.cpus_per_worker}
    resources = {"CPU": cpus}
    if workers.use_gpu:
        resources["GPU"] = 1
    trainer = TorchTrainer(
        _wrap(loop),
        train_loop_config=config,
        torch_config=TorchConfig(
            backend=workers.backend or ("nccl" if workers.use_gpu else "gloo")
        ),
        scaling_config=ScalingConfig(
            num_workers=workers.workers, use_gpu=workers.use_gpu, resources_per_worker=resources
        ),
        run_config=RunConfig(
            name=run.name,
            storage_path=str(storage_path(run.out_dir)),
            failure_config=FailureConfig(max_failures=run.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=run.keep_checkpoints),
            worker_runtime_env={"env_vars": _forwarded_env(run.env)},
        ),
        datasets=datasets,
        **({"dataset_config": dataset_config} if dataset_config is not None else {}),
    )
    return trainer.fit()
