"""Pre-training on the driver side: check the inputs, start or attach to Ray, stream the shards
into ``TorchTrainer`` workers (``uer_ray.train.worker``), and leave a plain checkpoint directory
plus ``metrics.jsonl``/``metrics.json`` in the output folder (DESIGN §3, §5, §6).

Output folder::

    final/          the last model: a DESIGN §4 checkpoint directory (load_model, finetune --init)
    metrics.jsonl   one line per logged step (no gaps, no repeats across restarts)
    metrics.json    the summary
    run.json        options of the run (``--resume`` reads them)
    ray/pretrain/   Ray Train storage: checkpoint_<step>/ (model/ + trainer_state.pt), run snapshot
                    (elsewhere with ``--storage``: a folder every node sees, or s3:// / gs://)
    wandb/          offline W&B runs

Everything but the checkpoints is written by this process, the driver: world rank 0 sends its
log lines here (``uer_ray.train.runlog``), so the output folder need not be on a disk that the
training nodes see.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from uer_ray.atomic import write_json
from uer_ray.config import StageOptions
from uer_ray.errors import OptionsError, UerRayError
from uer_ray.train import driver
from uer_ray.train.inputs import (
    ShardInfo,
    build_dataset,
    check_buildable,
    check_model_names,
    check_targets,
    check_word_masking,
    load_shard_info,
    model_config_for,
)
from uer_ray.train.pretrain_record import finish, summary_paragraph

__all__ = ["PretrainOptions", "build_dataset", "cache_data", "pretrain", "summary_paragraph",
           "worker_spec"]

RUN_NAME = "pretrain"
CACHE_AUTO_BYTES = 256 * 2**20


@dataclass(frozen=True, kw_only=True)
class PretrainOptions(StageOptions):
    """Everything ``python run.py pretrain`` accepts (see docs/pretrain.md)."""

    model: str | dict[str, Any] | None = None
    """preset name, JSON path or config dict (optional with ``init``: its config is used)"""
    data: str | None = None
    """the shard folder (optional with ``resume``: the stored run's)"""
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
    adam_bias_correction: bool = False
    """torch's AdamW (True), or BERT's and UER-py's update without bias correction"""
    warmup: float = 0.1
    """a fraction of ``steps`` when below 1, else a number of steps"""
    schedule: str = "linear"
    grad_accum: int = 1
    clip: float = 1.0
    seed: int = 7
    save_every: int = 500
    keep: int = 2
    log_every: int = 10
    workers: int | tuple[int, int] = 1
    """training workers, or ``(min, max)`` for an elastic run that grows when capacity joins"""
    resize_interval: float = 60.0
    """seconds between an elastic run's checks for capacity to grow into (Ray Train's default)"""
    cpus_per_worker: float | None = None
    cpus_budget: float | None = None
    """CPUs the run may take in all (a search trial's share; None: the whole cluster)"""
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
    run_name: str = RUN_NAME
    """the exact Ray Train run name (a search trial gives one)"""
    storage: str | None = None
    """Ray Train storage for checkpoints (a shared folder or a URI; default ``OUT/ray``)"""

    def __post_init__(self):
        # (n, n) is a fixed size; a list (from JSON or Python) is the same range as a tuple
        w = self.workers
        if isinstance(w, list):
            w = tuple(w)
        if isinstance(w, tuple) and len(w) == 2 and w[0] == w[1]:
            w = w[0]
        object.__setattr__(self, "workers", w)

    @property
    def min_workers(self) -> int:
        return self.workers[0] if isinstance(self.workers, tuple) else self.workers

    @property
    def max_workers(self) -> int:
        return self.workers[-1] if isinstance(self.workers, tuple) else self.workers

    @property
    def warmup_steps(self) -> int:
        return int(round(self.warmup * self.steps)) if self.warmup < 1 else int(self.warmup)


# Options that say how to run, not what to train: --resume may change them freely.
OPERATIONAL = frozenset({"resume", "overwrite", "address", "max_failures", "cpus_per_worker",
                         "cpus_budget", "wandb_mode", "publish", "zoo", "resize_interval"})
CHOICES = {"schedule": ("linear", "cosine", "constant"), "masking": ("token", "whole_word", "span"),
           "cache_data": ("auto", "on", "off")}


def _check_options(o: PretrainOptions) -> None:
    positive = {
        "steps": o.steps,
        "batch_size": o.batch_size,
        "grad_accum": o.grad_accum,
        "save_every": o.save_every,
        "keep": o.keep,
        "log_every": o.log_every,
        "workers": o.min_workers,
    }
    for name, value in positive.items():
        if value < 1:
            raise OptionsError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if isinstance(o.workers, tuple) and (len(o.workers) != 2 or o.min_workers > o.max_workers):
        raise OptionsError(f"--workers MIN-MAX needs MIN <= MAX, got {o.workers}")
    if o.lr <= 0 or o.warmup < 0 or o.clip < 0:
        raise OptionsError("--lr must be > 0, --warmup and --clip >= 0")
    if o.model is None and o.init is None:
        raise OptionsError("name a model with --model (preset or JSON) or start from --init CKPT")
    if o.data is None:
        raise OptionsError("--data DIR (the shard folder) is required")
    for name, allowed in CHOICES.items():
        if getattr(o, name) not in allowed:
            raise OptionsError(f"--{name.replace('_', '-')} must be one of {', '.join(allowed)}, "
                               f"got {getattr(o, name)!r}")


def _corpus_bytes(manifest: dict) -> float:
    """The shards' size in memory, estimated from the manifest: every column but the scalar
    ones is a token list about as long as input_ids, held as int32."""
    from uer_ray.data.shards import SCALAR_COLUMNS

    token_columns = sum(c not in SCALAR_COLUMNS for c in manifest["columns"])
    return manifest.get("tokens", 0) * 4 * max(1, token_columns)


def cache_data(o: PretrainOptions, manifest: dict) -> bool:
    """Whether workers keep their shard in memory: ``--cache-data``, or for ``auto`` an estimate
    of the shard bytes per worker (token columns as int32) against ``CACHE_AUTO_BYTES``."""
    if o.cache_data != "auto":
        return o.cache_data == "on"
    return _corpus_bytes(manifest) / o.min_workers <= CACHE_AUTO_BYTES


def data_in_memory(o: PretrainOptions, manifest: dict) -> bool:
    """Whether the driver reads the shards itself and hands them to Ray Data as blocks in the
    object store (``inputs.build_dataset(in_memory=True)``): when the workers cache their shard
    and the whole corpus fits in ``CACHE_AUTO_BYTES``. Otherwise Ray Data reads the files."""
    return cache_data(o, manifest) and _corpus_bytes(manifest) <= CACHE_AUTO_BYTES


def _taken(o: PretrainOptions) -> bool:
    """Whether ``--out`` (or the storage) already holds a run; without ``--overwrite`` that is
    a one-line error, raised before Ray starts."""
    out = Path(o.out)
    stored = driver.has_run(out, o.run_name, o.storage)
    if (out / "run.json").exists() or stored:
        if not o.overwrite:
            where = f"{out}" if not stored or not o.storage else \
                f"the storage {driver.run_location(out, o.run_name, o.storage)}"
            raise OptionsError(
                f"{where} already holds a pre-training run: pass --resume to continue it, "
                "--overwrite to start over, or choose another --out (or --storage)"
            )
        return True
    return False


def _new_run(o: PretrainOptions, taken: bool) -> dict:
    """Create the output folder of a fresh run (clearing the old one when ``taken``, which
    ``_taken`` found and allowed); returns run.json's content."""
    out = Path(o.out)
    if taken:
        driver.clear_run(out, o.run_name, o.storage)
        for name in ("metrics.jsonl", "metrics.json", "final", "wandb"):
            p = out / name
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    run = {"name": o.run_name, "wandb_id": uuid.uuid4().hex[:12], "options": o.to_dict()}
    write_json(out / "run.json", run)
    return run


def _given(o: PretrainOptions, explicit: Collection[str] | None) -> set[str]:
    """The options the caller set: ``explicit`` (the CLI gives the options typed, even those
    typed with their default value), else the fields that differ from their defaults."""
    if explicit is not None:
        return set(explicit)
    defaults = PretrainOptions(out=o.out)
    return {f.name for f in fields(o) if getattr(o, f.name) != getattr(defaults, f.name)}


@dataclass(frozen=True)
class Resumed:
    """A stored run and what ``--resume`` does with it."""

    options: PretrainOptions
    run: dict
    extended: dict | None
    """``{from_steps, to_steps}`` when a larger ``--steps`` extends the run"""
    done: dict | None
    """the finished run's result record when nothing is left to do"""


def _resume(o: PretrainOptions, explicit: Collection[str] | None) -> Resumed:
    """The stored run's options with what the caller may change on resume: how to run
    (``OPERATIONAL``) and a larger ``steps``. Any other option that differs is refused, naming
    each difference."""
    from uer_ray.records import read_record

    run_file = Path(o.out) / "run.json"
    if not run_file.exists():
        raise OptionsError(f"{o.out}: no run to resume (run.json missing); drop --resume")
    run = json.loads(run_file.read_text(encoding="utf-8"))
    stored = PretrainOptions.from_dict(run["options"], path=f"{run_file}: options")
    if "adam_bias_correction" not in run["options"]:  # stored before the option: torch's AdamW
        stored = replace(stored, adam_bias_correction=True)
    given = _given(o, explicit) - OPERATIONAL - {"out", "steps"}
    differ = [f"{k} (stored {getattr(stored, k)!r}, given {getattr(o, k)!r})" for k in sorted(given)
              if getattr(o, k) != getattr(stored, k)]
    if differ:
        raise OptionsError(
            f"--resume continues the run stored in {o.out} as it was; these options differ from "
            f"it: {'; '.join(differ)}. Drop them, or start a new run (--overwrite or another --out)")
    steps = o.steps if "steps" in _given(o, explicit) else stored.steps
    if steps < stored.steps:
        raise OptionsError(f"--steps {steps}: the stored run has {stored.steps} steps; a resumed "
                           "run can only be extended")
    merged = replace(stored, steps=steps, **{k: getattr(o, k) for k in OPERATIONAL})
    record_path = Path(o.out) / "metrics.json"
    finished = read_record(record_path) if record_path.exists() else None
    trained = finished["results"]["steps"] if finished else 0
    extended = None
    if steps > stored.steps or (finished and steps > trained):
        extended = {"from_steps": trained or stored.steps, "to_steps": steps}
        run = {**run, "options": merged.to_dict()}
        write_json(run_file, run)
    done = finished if finished and trained >= steps else None
    return Resumed(merged, run, extended, done)


def run_meta(o: PretrainOptions, info: ShardInfo, init: str | None) -> dict:
    """What produced the run: saved in every checkpoint's meta.json and in the W&B config."""
    return {
        "data": str(Path(o.data).absolute()),
        "manifest_sha256": info.manifest_sha256,
        "processor": info.processor,
        "model_source": o.model,
        "init": init,
        "options": o.to_dict(),
    }


def worker_spec(o: PretrainOptions, info: ShardInfo, model_config: dict,
                on_step: Callable[[int, int], None] | None = None,
                init: str | None = None):
    """The frozen ``PretrainSpec`` every worker receives (``uer_ray.train.worker``)."""
    from uer_ray.data import MaskingConfig
    from uer_ray.plugins import loaded
    from uer_ray.targets import TARGETS
    from uer_ray.train.batches import StreamConfig
    from uer_ray.train.specs import PretrainSpec, Schedule

    # absolute: Ray Train workers run in their own working directory
    init = init or (str(Path(o.init).absolute()) if o.init else None)
    masking = None
    if any(TARGETS.get(t).needs_masking for t in model_config["targets"]):
        try:
            masking = MaskingConfig(prob=o.mask_prob, strategy=o.masking)
        except ValueError as e:
            raise OptionsError(f"--mask-prob / --masking: {e}") from None
    return PretrainSpec(
        model_config=model_config, tokenizer=info.tokenizer, tgt_tokenizer=info.tgt_tokenizer,
        init=init, masking=masking,
        schedule=Schedule(steps=o.steps, lr=o.lr, weight_decay=o.weight_decay,
                          adam_bias_correction=o.adam_bias_correction, warmup_steps=o.warmup_steps, kind=o.schedule, clip=o.clip,
                          grad_accum=o.grad_accum),
        stream=StreamConfig(batch_size=o.batch_size, seed=o.seed, shuffle_buffer=o.shuffle_buffer,
                            cache=cache_data(o, info.manifest)),
        seed=o.seed, save_every=o.save_every, log_every=o.log_every, use_gpu=o.gpu, bf16=o.bf16,
        compile=o.compile, meta=run_meta(o, info, init), progress=o.progress, on_step=on_step,
        plugins=loaded())


def pretrain(
    options: PretrainOptions,
    *,
    on_log: Callable[[dict], None] | None = None,
    on_step: Callable[[int, int], None] | None = None,
    explicit: Collection[str] | None = None,
) -> dict:
    """Run, resume or extend pre-training; returns the result record written to
    ``metrics.json`` (docs/contracts.md).

    ``on_log(record)`` receives every ``metrics.jsonl`` line as it is written (on a thread of
    this process). ``on_step(rank, step)`` runs on every worker after each optimiser step (it
    is pickled to the workers: a hook for profilers and for tests that interrupt a run).
    ``explicit`` names the options the user set (the CLI passes the options typed), which
    ``resume`` checks against the stored run; by default the options that differ from their
    defaults count as set.
    """
    from uer_ray.cluster import ensure_ray, quiet_data_progress
    from uer_ray.models.checkpoint import checkpoint_folder
    from uer_ray.zoo import entry_of, resolve_checkpoint

    resumed = None
    if options.resume:
        resumed = _resume(options, explicit)
        if resumed.done is not None:
            print(f"{options.out}: the run already finished its {resumed.options.steps} steps; "
                  "nothing to do (pass a larger --steps to extend it)", flush=True)
            return resumed.done
        o, run = resumed.options, resumed.run
        _check_options(o)
    else:
        _check_options(options)
        o, run = options, None
    init = str(checkpoint_folder(resolve_checkpoint(o.init, zoo=o.zoo)).absolute()) if o.init else None
    check_model_names(o, init)
    info = load_shard_info(o.data, init=init, vocab=o.vocab)
    model_config = model_config_for(o.model, info, targets=o.targets, init=init)
    check_targets(model_config, info)
    check_word_masking(o.masking, model_config, info)
    parameters = check_buildable(model_config)  # every config error here, before Ray starts
    taken = run is None and _taken(o)  # a taken --out is refused at once, not after Ray's start
    started = time.time()
    ensure_ray(o.address)  # before the run folder: a cluster that cannot be reached leaves none
    run = run or _new_run(o, taken)
    quiet_data_progress()  # also when Ray was started by someone else (a search trial)
    from uer_ray.tracking import describe_model
    from uer_ray.train.runlog import DriverLog, wandb_settings
    from uer_ray.train.worker import pretrain_worker

    dataset, data_config = build_dataset(o, info, in_memory=data_in_memory(o, info.manifest))
    wandb = wandb_settings(o, describe_model(model_config), run)
    with DriverLog(Path(o.out) / "metrics.jsonl", wandb=wandb, on_log=on_log,
                   config={**run_meta(o, info, init), **o.wandb_config}) as log:
        result = driver.fit(
            pretrain_worker, worker_spec(o, info, model_config, on_step=on_step, init=init),
            run=driver.RunSpec(out_dir=o.out, name=run["name"], max_failures=o.max_failures,
                               keep_checkpoints=o.keep, storage=o.storage),
            workers=driver.WorkerSpec(workers=o.workers, use_gpu=o.gpu,
                                      cpus_per_worker=o.cpus_per_worker, cpus_budget=o.cpus_budget,
                                      resize_interval_s=o.resize_interval),
            datasets={"train": dataset}, dataset_config=data_config, on_record=log)
    if result.error is not None:
        raise UerRayError(f"training failed: {result.error}") from result.error
    if result.checkpoint is None:
        raise UerRayError("training ended without a checkpoint")
    extended = resumed.extended if resumed is not None else None
    record = finish(o, info, result, started, model_config, parameters, extended, init,
                    entry_of(init) if init else None, restarts=max(0, len(log.restarts) - 1))
    if o.publish is not None:
        from uer_ray.train.publish import publish_result

        record = {**record, "published": publish_result(record, o.publish, o.zoo)}
    return record
