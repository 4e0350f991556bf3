"""Running a per-worker training loop on Ray Train (V2 ``TorchTrainer``): one way for
pre-training and fine-tuning to use Ray.

``fit(loop, spec, run=RunSpec(...), workers=WorkerSpec(...))`` sizes the workers from the CPU
budget the caller gives (a search trial's share; the whole cluster by default) so that they never
starve Ray Data read tasks (on a 2-CPU machine two 1-CPU workers leave nothing for reads and the
run hangs; see RAY_NOTES), chooses gloo on CPU and nccl on GPU, keeps checkpoints under
``out_dir/ray`` (an absolute path, as Ray requires) or ``RunSpec.storage`` (a shared folder or a
URI: ``uer_ray.train.run_storage``), restarts failed workers from the latest checkpoint and keeps
the last K checkpoints. ``WorkerSpec(workers=(min, max))`` is an elastic run (Ray Train V2): it
starts with what fits, at least ``min``, and restarts from its latest checkpoint with more
workers when capacity joins, up to ``max``. The run is named exactly
``RunSpec.name``: calling ``fit`` again with the same storage and name resumes a stopped run
from its latest checkpoint (Ray's run snapshot), which is how a restored search trial finds it.

The loop runs as ``loop(spec, link)`` on every worker: ``spec`` is the caller's frozen spec
(``uer_ray.train.specs``), ``link`` a ``WorkerLink``. Inside it, use ``ray.train.get_checkpoint()``,
``ray.train.get_dataset_shard("train")`` and ``ray.train.report`` as usual, and
``link.emit(record)`` on rank 0 to hand a record to the caller's ``on_record`` (it runs in the
driver process, on a thread of its own). ``callbacks`` are Ray Train ``UserCallback``s (e.g.
Tune's ``TuneReportCallback``). Each worker runs with torch threads set (``worker_threads``) and
denormals flushed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uer_ray.errors import UerRayError
from uer_ray.train.run_storage import clear_run, has_run, run_folder, run_location, storage_path

__all__ = ["RunSpec", "WorkerLink", "WorkerSpec", "clear_run", "cpus_per_worker", "fit", "has_run",
           "run_folder", "run_location", "storage_path"]

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
    "UER_RAY_PLUGINS",
)


@dataclass(frozen=True, kw_only=True)
class WorkerSpec:
    """How many training workers and what each one holds.

    ``cpus_per_worker=None`` picks 1 CPU per worker when that leaves at least one whole CPU for
    Ray Data (whenever datasets are streamed), and a fraction otherwise; on a cluster with no CPU
    yet (a CPU-less head whose autoscaler adds nodes on demand) it asks for 1 CPU per worker.
    ``cpus_budget`` is how many CPUs the run may take in all — a search trial passes its share,
    so that concurrent trials never oversubscribe a machine; None means the whole cluster.
    ``workers=(min, max)`` is an elastic run; ``resize_interval_s`` is how often it looks for
    capacity to grow into.
    """

    workers: int | tuple[int, int] = 1
    resize_interval_s: float | None = None
    use_gpu: bool = False
    cpus_per_worker: float | None = None
    cpus_budget: float | None = None
    backend: str | None = None  # None: nccl with GPUs, gloo on CPU


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """Where a run lives and how it survives failures."""

    out_dir: str | Path
    name: str
    """the exact Ray Train run name (no timestamp added): restore depends on it"""
    max_failures: int = 2
    keep_checkpoints: int | None = 2
    env: dict[str, str] = field(default_factory=dict)
    storage: str | None = None
    """Ray Train storage (a shared folder or a URI such as ``s3://bucket/runs``); default
    ``out_dir/ray``"""

    @property
    def storage_path(self) -> str:
        return storage_path(self.out_dir, self.storage)


def worker_range(spec: WorkerSpec) -> tuple[int, int]:
    """(min, max) workers of a spec (equal for a fixed size)."""
    w = spec.workers
    return (int(w[0]), int(w[-1])) if isinstance(w, (tuple, list)) else (int(w), int(w))


def cpus_per_worker(spec: WorkerSpec, total_cpus: float, streams_data: bool) -> float:
    """CPUs to reserve per worker out of ``total_cpus`` logical CPUs in the cluster, or out of
    ``spec.cpus_budget`` when the caller gives one (never more than the cluster has).

    Ray Data read tasks each need a whole CPU; when data is streamed at least one must stay free.
    """
    if spec.cpus_per_worker is not None:
        return float(spec.cpus_per_worker)
    if spec.cpus_budget is None and total_cpus <= 0:
        # Nothing can run on a cluster without CPUs until nodes join: it scales up from a
        # CPU-less head. One CPU per worker is what the autoscaler is asked for.
        print(f"The Ray cluster has no CPUs yet: asking for 1 CPU per training worker "
              f"({worker_range(spec)[1]} in all) for the autoscaler to add nodes; pass "
              "--cpus-per-worker to choose.", flush=True)
        return 1.0
    budget = total_cpus if spec.cpus_budget is None else min(spec.cpus_budget, total_cpus)
    free_needed = 1.0 if streams_data else 0.0
    room = budget - free_needed
    if room <= 0:
        where = "the Ray cluster has" if spec.cpus_budget is None else "this run's budget is"
        raise UerRayError(
            f"{where} {budget:g} CPU(s): not enough to run training workers "
            "and stream data; add CPUs or pass an explicit CPU count per worker"
        )
    most = worker_range(spec)[1]
    if most * 1.0 <= room:
        return 1.0
    # Round down to a hundredth so that the sum never exceeds the room left.
    return max(0.01, int(100 * room / most) / 100)


@dataclass(frozen=True)
class WorkerLink:
    """What ``fit`` adds to the caller's spec on every worker: the way back to the driver
    (``emit``) and the CPU share each worker was given."""

    records: Any = None
    """the Ray queue ``emit`` writes to (None: the caller has no ``on_record``)"""
    cpus_per_worker: float | None = None

    def emit(self, record: dict) -> None:
        """On a worker: hand ``record`` to the caller's ``on_record`` (no-op without one)."""
        if self.records is not None:
            self.records.put_nowait(record)


def worker_threads(link: WorkerLink) -> int:
    """Torch intra-op threads for this worker. With a CPU share (given per worker, or sized from a
    budget) it is that share of this node's cores (logical CPUs may outnumber cores: the
    embedded cluster declares twice as many); otherwise the node's cores shared among the
    workers on that node."""
    import ray
    import ray.train

    cores = os.cpu_count() or 1
    share = link.cpus_per_worker
    if share:
        node = ray.get_runtime_context().get_node_id()
        logical = next((n["Resources"].get("CPU", 0) for n in ray.nodes() if n["NodeID"] == node), 0)
        return max(1, int(share * cores / logical)) if logical else max(1, int(share))
    local = max(1, ray.train.get_context().get_local_world_size())
    return max(1, cores // local)


def _wrap(loop: Callable[[Any, WorkerLink], Any]) -> Callable[[dict], Any]:
    def per_worker(config: dict) -> Any:
        import torch

        link = config["link"]
        torch.set_num_threads(worker_threads(link))
        # Denormal floats make CPU matmuls many times slower late in training; flush them to 0.
        torch.set_flush_denormal(True)
        return loop(config["spec"], link)

    per_worker.__name__ = getattr(loop, "__name__", "train_loop")
    return per_worker


def _forwarded_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: os.environ[k] for k in _FORWARDED_ENV if k in os.environ}
    env.update(extra)
    return env


@contextlib.contextmanager
def _own_sigint():
    """Ray Train installs a SIGINT handler of its own in ``fit`` (on the main thread) and never
    removes it. Its closure keeps the run's controller actor alive for the life of the process
    (about 400 MB each), and a later Ctrl-C would call ``abort`` on that finished run and exit
    with status 0. The previous handler is put back when the run ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _fit_interruptibly(trainer) -> Any:
    """``trainer.fit()``, with a Ctrl-C during it raised as ``KeyboardInterrupt`` once the run
    has stopped. Ray Train's own SIGINT handler aborts the run gracefully, after which its
    ``ray.get`` leaves the process with ``SystemExit(1)`` (or ``fit`` returns): without this, a
    Ctrl-C ended the command with status 1 and no word. The run's checkpoints stay, so
    ``--resume`` continues it."""
    interrupted = threading.Event()
    register = getattr(trainer, "_register_sigint_handler", None)
    if register is not None:
        def register_and_watch(controller):
            register(controller)
            ray_handler = signal.getsignal(signal.SIGINT)

            def handler(signum, frame):
                interrupted.set()
                if callable(ray_handler):
                    ray_handler(signum, frame)

            signal.signal(signal.SIGINT, handler)

        trainer._register_sigint_handler = register_and_watch
    try:
        start_train_helpers()
        result = trainer.fit()
    except SystemExit:
        if interrupted.is_set():
            raise KeyboardInterrupt from None
        raise
    if interrupted.is_set():
        raise KeyboardInterrupt
    return result


def start_train_helpers() -> None:
    """Start the one helper actor Ray Train's controller waits for before it places any worker:
    Ray Data's autoscaling coordinator (detached, one per cluster, created on first use).

    Created here, its process starts while the controller's own process imports Ray Train,
    instead of after: about 1 s less before the first step of a run on a fresh cluster (on a
    cluster that already ran one, it exists and this is a no-op). Ray's own function is used, so
    the actor is exactly the one Train would create; if a Ray release moves it, nothing is done.
    """
    try:
        from ray.data._internal.cluster_autoscaler.default_autoscaling_coordinator import (
            get_or_create_autoscaling_coordinator,
        )

        get_or_create_autoscaling_coordinator()
    except (ImportError, AttributeError, TypeError):  # moved or changed: Train creates it
        return


def _scaling(workers: WorkerSpec, resources: dict[str, float]):
    """Ray Train's ScalingConfig: a fixed size, or ``(min, max)`` for an elastic run."""
    from ray.train import ScalingConfig

    low, high = worker_range(workers)
    extra = {}
    if low != high and workers.resize_interval_s is not None:
        extra["elastic_resize_monitor_interval_s"] = float(workers.resize_interval_s)
    return ScalingConfig(num_workers=low if low == high else (low, high),
                         use_gpu=workers.use_gpu, resources_per_worker=resources, **extra)


class _Forwarder:
    """Records put on a Ray queue by workers, passed to ``on_record`` on a driver thread."""

    def __init__(self, on_record: Callable[[dict], None]):
        from ray.util.queue import Queue

        self.queue = Queue(actor_options={"num_cpus": 0})
        self.on_record = on_record
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, name="uer-ray-records", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        from ray.util.queue import Empty

        while True:
            try:
                record = self.queue.get(timeout=0.25)
            except Empty:
                if self._stop.is_set():
                    return
                continue
            except Exception:  # the queue actor is gone (Ray shut down under us)
                return
            if self.error is None:
                try:
                    self.on_record(record)
                except BaseException as e:  # raised in the caller's thread after fit
                    self.error = e

    def close(self) -> None:
        import ray

        self._stop.set()
        self._thread.join(timeout=30)
        ray.kill(self.queue.actor, no_restart=True)


def fit(
    loop: Callable[[Any, WorkerLink], Any],
    spec: Any,
    *,
    run: RunSpec,
    workers: WorkerSpec | None = None,
    datasets: dict[str, Any] | None = None,
    dataset_config: Any = None,
    on_record: Callable[[dict], None] | None = None,
    callbacks: Sequence[Any] = (),
) -> Any:
    """Run ``loop(spec, link)`` on every worker of a ``TorchTrainer``; returns Ray's ``Result``.

    Ray must already be initialised (``uer_ray.cluster.ensure_ray``). A run folder left by an
    earlier ``fit`` with the same storage and ``run.name`` is resumed from its latest
    checkpoint; call ``clear_run`` first to start over. ``on_record(record)`` receives what
    rank 0 passes to ``link.emit``, while the run goes; an exception it raises is re-raised here
    once the run has ended.
    """
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    workers = workers or WorkerSpec()
    low, high = worker_range(workers)
    if low < 1 or high < low:
        raise UerRayError(f"need at least 1 worker (and MIN <= MAX), got {workers.workers}")
    total = float(ray.cluster_resources().get("CPU", 0))
    cpus = cpus_per_worker(workers, total, streams_data=bool(datasets))
    share = workers.cpus_per_worker if workers.cpus_budget is None else cpus
    resources = {"CPU": cpus}
    if workers.use_gpu:
        resources["GPU"] = 1
    forwarder = _Forwarder(on_record) if on_record is not None else None
    link = WorkerLink(forwarder.queue if forwarder is not None else None, share)
    config = {"spec": spec, "link": link}
    try:
        trainer = TorchTrainer(
            _wrap(loop),
            train_loop_config=config,
            torch_config=TorchConfig(
                backend=workers.backend or ("nccl" if workers.use_gpu else "gloo")
            ),
            scaling_config=_scaling(workers, resources),
            run_config=RunConfig(
                name=run.name,
                storage_path=run.storage_path,
                failure_config=FailureConfig(max_failures=run.max_failures),
                checkpoint_config=CheckpointConfig(num_to_keep=run.keep_checkpoints),
                worker_runtime_env={"env_vars": _forwarded_env(run.env)},
                callbacks=list(callbacks) or None,
            ),
            datasets=datasets,
            **({"dataset_config": dataset_config} if dataset_config is not None else {}),
        )
        with _own_sigint():
            result = _fit_interruptibly(trainer)
    finally:
        if forwarder is not None:
            forwarder.close()
    if forwarder is not None and forwarder.error is not None:
        raise forwarder.error
    return result
