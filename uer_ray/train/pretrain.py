"""Pre-training on the driver side: check the inputs, start or attach to Ray, stream the shards
into ``TorchTrainer`` workers (``uer_ray.train.worker``), and leave a plain checkpoint directory
plus ``metrics.jsonl``/``metrics.json`` in the output folder (DESIGN §3, §5, §6).

Output folder::

    final/          the last model: a DESIGN §4 checkpoint directory (load_model, finetune --init)
    metrics.jsonl   one line per logged step (no gaps, no repeats across restarts)
    metrics.json    the summary
    run.json        options of the run (``--resume`` reads them)
    ray/pretrain/   Ray Train storage: checkpoint_<step>/ (model/ + trainer_state.pt), run snapshot
    wandb/          offline W&B runs (rank 0 only)
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from uer_ray.atomic import atomic_dir, write_json
from uer_ray.errors import InputError, UerRayError
from uer_ray.train import driver
from uer_ray.train.inputs import ShardInfo, check_targets, load_shard_info, model_config_for
from uer_ray.train.state import MODEL_DIR

RUN_NAME = "pretrain"
CACHE_AUTO_BYTES = 256 * 2**20


@dataclass(frozen=True, kw_only=True)
class PretrainOptions:
    """Everything ``python run.py pretrain`` accepts (see docs/pretrain.md)."""

    model: str | None
    data: str
    out: str
    targets: dict[str, float] | None = None
    init: str | None = None
    vocab: str | None = None
    """the vocabulary the shards were made with, when the shard folder has no tokenizer/"""
    steps: int = 1000
    batch_size: int = 32
    """rows per worker per micro-batch; the effective batch is batch_size × grad_accum × workers"""
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup: float = 0.1
    """a fraction of ``steps`` when below 1, else a number of steps"""
    schedule: str = "linear"
    grad_accum: int = 1
    clip: float = 1.0
    seed: int = 7
    save_every: int = 500
    keep: int = 2
    log_every: int = 10
    workers: int = 1
    cpus_per_worker: float | None = None
    gpu: bool = False
    bf16: bool = True
    compile: bool = False
    masking: str = "token"
    mask_prob: float = 0.15
    shuffle_buffer: int = 1000
    cache_data: str = "auto"
    """auto | on | off: keep each worker's shard in memory after the first epoch (auto: when
    the shards hold at most ``CACHE_AUTO_BYTES`` per worker)"""
    deterministic: bool = False
    max_failures: int = 3
    resume: bool = False
    overwrite: bool = False
    address: str | None = None
    wandb_project: str = "uer_ray"
    wandb_group: str | None = None
    wandb_name: str | None = None
    wandb_mode: str | None = None
    test_hooks: dict[str, Any] = field(default_factory=dict)
    """pid_dir / throttle_s (tests interrupt a run mid-way with them)"""

    @property
    def warmup_steps(self) -> int:
        return int(round(self.warmup * self.steps)) if self.warmup < 1 else int(self.warmup)


def _check_options(o: PretrainOptions) -> None:
    positive = {
        "steps": o.steps,
        "batch_size": o.batch_size,
        "grad_accum": o.grad_accum,
        "save_every": o.save_every,
        "keep": o.keep,
        "log_every": o.log_every,
        "workers": o.workers,
    }
    for name, value in positive.items():
        if value < 1:
            raise UerRayError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if o.lr <= 0 or o.warmup < 0 or o.clip < 0:
        raise UerRayError("--lr must be > 0, --warmup and --clip >= 0")
    if o.model is None and o.init is None:
        raise UerRayError("name a model with --model (preset or JSON) or start from --init CKPT")
    if o.cache_data not in ("auto", "on", "off"):
        raise UerRayError(f"--cache-data must be auto, on or off, got {o.cache_data!r}")


def cache_data(o: PretrainOptions, manifest: dict) -> bool:
    """Whether workers keep their shard in memory: ``--cache-data``, or for ``auto`` an estimate
    of the shard bytes per worker (token columns as int32) against ``CACHE_AUTO_BYTES``."""
    if o.cache_data != "auto":
        return o.cache_data == "on"
    token_columns = sum(c in ("input_ids", "segment_ids", "tgt_ids") for c in manifest["columns"])
    estimate = manifest.get("tokens", 0) * 4 * max(1, token_columns) / o.workers
    return estimate <= CACHE_AUTO_BYTES


def _prepare_out(o: PretrainOptions) -> dict:
    """Create or reopen the output folder; returns run.json's content."""
    out = Path(o.out)
    run_file = out / "run.json"
    if o.resume:
        if not run_file.exists():
            raise UerRayError(f"{out}: no run to resume (run.json missing); drop --resume")
        return json.loads(run_file.read_text(encoding="utf-8"))
    if run_file.exists() or driver.has_run(out, RUN_NAME):
        if not o.overwrite:
            raise UerRayError(
                f"{out} already holds a pre-training run: pass --resume to continue it, "
                "--overwrite to start over, or choose another --out"
            )
        driver.clear_run(out, RUN_NAME)
        for name in ("metrics.jsonl", "metrics.json", "final", "wandb"):
            p = out / name
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    run = {"name": RUN_NAME, "wandb_id": uuid.uuid4().hex[:12], "options": asdict(o)}
    write_json(run_file, run)
    return run


def _resumed_options(o: PretrainOptions, run: dict) -> PretrainOptions:
    """On --resume the stored options win, except how to reach Ray and the test hooks."""
    stored = {k: v for k, v in run["options"].items() if k in PretrainOptions.__dataclass_fields__}
    return replace(
        PretrainOptions(**stored), resume=True, address=o.address, test_hooks=o.test_hooks
    )


def worker_config(o: PretrainOptions, info: ShardInfo, model_config: dict, run: dict) -> dict:
    """The plain dict every worker receives (``uer_ray.train.worker.pretrain_worker``)."""
    from uer_ray.tracking import describe_model

    out = Path(o.out).absolute()
    # absolute: Ray Train workers run in their own working directory
    init = str(Path(o.init).absolute()) if o.init else None
    masking = None
    if "mlm" in model_config["targets"]:
        masking = {"prob": o.mask_prob, "strategy": o.masking}
    names = describe_model(model_config)
    meta = {
        "data": str(Path(o.data).absolute()),
        "manifest_sha256": info.manifest_sha256,
        "processor": info.processor,
        "model_source": o.model,
        "init": init,
        "effective_batch_size": o.batch_size * o.grad_accum * o.workers,
        "options": {k: v for k, v in asdict(o).items() if k != "test_hooks"},
    }
    wandb = None
    if (o.wandb_mode or "") != "disabled":
        wandb = {
            "project": o.wandb_project,
            "name": o.wandb_name or names["name"],
            "group": o.wandb_group or names["group"],
            "tags": names["tags"],
            "mode": o.wandb_mode,
            "run_id": run["wandb_id"],
            "dir": str(out),
        }
    return {
        "model_config": model_config,
        "tokenizer": info.tokenizer,
        "init": init,
        "masking": masking,
        "steps": o.steps,
        "batch_size": o.batch_size,
        "grad_accum": o.grad_accum,
        "lr": o.lr,
        "weight_decay": o.weight_decay,
        "warmup": o.warmup_steps,
        "schedule": o.schedule,
        "clip": o.clip,
        "seed": o.seed,
        "save_every": o.save_every,
        "log_every": o.log_every,
        "use_gpu": o.gpu,
        "bf16": o.bf16,
        "compile": o.compile,
        "shuffle_buffer": o.shuffle_buffer,
        "cache_data": cache_data(o, info.manifest),
        "metrics_path": str(out / "metrics.jsonl"),
        "wandb": wandb,
        "meta": meta,
        **o.test_hooks,
    }


def build_dataset(o: PretrainOptions, info: ShardInfo):
    """The shards as a streaming Ray Dataset (no full materialisation, whatever the corpus size),
    and the ``DataConfig`` that feeds it to the workers.

    Files are read in a seeded random order that changes every epoch; each worker also shuffles
    rows in a local buffer seeded by (seed, rank, epoch). ``--deterministic`` keeps one file
    order for every epoch and delivers blocks in that order, so that a resumed run (whose Ray
    Data executions restart from zero) replays exactly the batches of an uninterrupted one.
    """
    import ray.data
    from ray.data import FileShuffleConfig
    from ray.train import DataConfig

    from uer_ray.data import shard_files

    shuffle = FileShuffleConfig(seed=o.seed, reseed_after_execution=not o.deterministic)
    files = [str(Path(f).absolute()) for f in shard_files(o.data, info.manifest)]
    ds = ray.data.read_parquet(files, shuffle=shuffle)
    # Ray Train replaces a dataset's execution options with its ingest defaults: order must be
    # requested through the DataConfig.
    with warnings.catch_warnings():
        # Ray's own defaults set a field that Ray has deprecated; the notice is not for users.
        warnings.filterwarnings("ignore", message=".*exclude_resources.*")
        options = DataConfig.default_ingest_options()
    options.preserve_order = o.deterministic
    return ds, DataConfig(execution_options={"train": options})


def pretrain(options: PretrainOptions) -> dict:
    """Run (or resume) pre-training; returns the summary written to ``metrics.json``."""
    from uer_ray.cluster import ensure_ray

    _check_options(options)
    run = _prepare_out(options)
    o = _resumed_options(options, run) if options.resume else options
    info = load_shard_info(o.data, init=o.init, vocab=o.vocab)
    model_config = model_config_for(o.model, info, targets=o.targets, init=o.init)
    check_targets(model_config, info)
    started = time.time()
    ensure_ray(o.address)
    from uer_ray.train.worker import pretrain_worker

    dataset, data_config = build_dataset(o, info)

    result = driver.fit(
        pretrain_worker,
        worker_config(o, info, model_config, run),
        run=driver.RunSpec(
            out_dir=o.out, name=run["name"], max_failures=o.max_failures, keep_checkpoints=o.keep
        ),
        workers=driver.WorkerSpec(
            workers=o.workers, use_gpu=o.gpu, cpus_per_worker=o.cpus_per_worker
        ),
        datasets={"train": dataset},
        dataset_config=data_config,
    )
    if result.error is not None:
        raise UerRayError(f"training failed: {result.error}") from result.error
    if result.checkpoint is None:
        raise UerRayError("training ended without a checkpoint")
    return _finish(o, result, started, model_config)


def _finish(o: PretrainOptions, result, started: float, model_config: dict) -> dict:
    from uer_ray.tracking import read_metrics

    out = Path(o.out)
    with result.checkpoint.as_directory() as d, atomic_dir(out / "final") as final:
        shutil.copytree(Path(d) / MODEL_DIR, final, dirs_exist_ok=True)
    records = read_metrics(out / "metrics.jsonl")
    if not records:
        raise InputError("no metrics were logged", str(out / "metrics.jsonl"))
    first, last = records[0], records[-1]
    speeds = [r["tokens_per_s"] for r in records[1:]] or [first["tokens_per_s"]]
    summary = {
        "steps": last["step"],
        "epochs": last["epoch"],
        "loss_first": first["loss"],
        "loss_last": last["loss"],
        "final": {k: v for k, v in last.items() if k not in ("step", "epoch", "time")},
        "tokens_seen": last.get("tokens_seen"),
        "tokens_per_s": sum(speeds) / len(speeds),
        "effective_batch_size": o.batch_size * o.grad_accum * o.workers,
        "workers": o.workers,
        "wall_s": round(time.time() - started, 1),
        "model": model_config,
        "checkpoint": str((out / "final").absolute()),
    }
    write_json(out / "metrics.json", summary)
    return summary


def summary_paragraph(s: dict) -> str:
    """The one paragraph the command prints at the end."""
    targets = ", ".join(
        f"{k.split('/')[0]} {v:.3f}" for k, v in s["final"].items() if k.endswith("/accuracy")
    )
    return (
        f"Pre-trained {s['steps']} steps ({s['epochs'] + 1} epoch(s) started) on {s['workers']} "
        f"worker(s), effective batch {s['effective_batch_size']}, in {s['wall_s']:.0f} s; loss "
        f"{s['loss_first']:.4f} -> {s['loss_last']:.4f}"
        + (f"; accuracy {targets}" if targets else "")
        + f"; {s['tokens_per_s']:.0f} tokens/s. Model: {s['checkpoint']} "
        "(load with uer_ray.load_model or finetune --init); metrics in metrics.jsonl/metrics.json."
    )
