"""Fine-tuning as a library stage (UER paper §3.3-3.4; DESIGN §5, §6)::

    import uer_ray
    record = uer_ray.finetune(uer_ray.FinetuneOptions(
        task="classify", train="train.tsv", dev="dev.tsv", test="test.tsv", out="runs/ft",
        init="runs/bert/final"), on_epoch=print)

``finetune`` reads and checks every file before building the model, starts from a checkpoint
(``init``) or a fresh model (``model``: a preset name, a JSON path or a config dict), trains in
this process (``workers=0``) or on Ray Train workers with DDP (``uer_ray.train.finetune_ray``),
keeps the best epoch on dev, evaluates test once, and writes the output folder atomically: a
checkpoint directory plus ``task.json``, ``head.safetensors``, ``metrics.json`` (the result
record, docs/contracts.md) and ``metrics.jsonl``. ``on_epoch(record)`` is called after every
epoch with the dev metrics; it is how a search trial reports to Ray Tune. Options are never
modified; what the run derives from them (the learning rate, the pooling, the pad id) lives in
``Hyperparameters``, ``Runtime`` and ``TaskSettings``.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uer_ray.config import StageOptions
from uer_ray.errors import InputError, OptionsError, UerRayError

POOLING_CHOICES = ("auto", "first", "mean", "max", "last")


@dataclass(frozen=True, kw_only=True)
class FinetuneOptions(StageOptions):
    """Everything ``python run.py finetune`` accepts (docs/finetune.md)."""

    task: str
    """classify, pair, tag, dbqa or regress (the ``TASKS`` registry)"""
    train: str
    dev: str
    out: str
    test: str | None = None
    dataset: str | None = None
    """the dataset's name in records and the zoo (default: the training file's folder name)"""
    init: str | None = None
    """checkpoint to start from: a folder (a pretrain ``--out`` means its ``final/``), a
    ``zoo:NAME[@VERSION|@ALIAS]`` reference or a remote URI (``s3://…``)"""
    model: str | dict[str, Any] | None = None
    """preset name, JSON path or config dict: from scratch, or shaped for ``init``"""
    vocab: str | None = None
    spm_model: str | None = None
    tokenizer: str = "wordpiece"
    freeze: bool = False
    pooling: str = "auto"
    crf: bool = False
    epochs: int = 3
    batch_size: int = 32
    """rows per micro-batch, however many workers share it"""
    grad_accum: int = 1
    lr: float | None = None
    """peak learning rate (None: 2e-5 pre-trained transformer, 1e-4 fresh one, 1e-3 others)"""
    warmup: float = 0.1
    weight_decay: float = 0.01
    seq_length: int = 128
    patience: int = 0
    seed: int = 7
    workers: int = 0
    """Ray Train workers (0: in this process)"""
    cpus_per_worker: float | None = None
    cpus_budget: float | None = None
    """CPUs the Ray workers may take in all (a search trial's share; None: the cluster)"""
    device: str = "auto"
    bf16: bool = True
    address: str | None = None
    run_name: str | None = None
    """the exact Ray Train run name (a search trial gives one; default ``finetune``)"""

    @property
    def dataset_name(self) -> str:
        return self.dataset or Path(self.train).absolute().parent.name


def check_options(o: FinetuneOptions) -> None:
    """Reject contradictory or impossible options before any file is read."""
    from uer_ray.tasks import get_task
    from uer_ray.train.devices import check_device

    get_task(o.task)  # an unknown task fails here, with "did you mean"
    for name in ("epochs", "batch_size", "grad_accum", "seq_length"):
        if getattr(o, name) < 1:
            raise OptionsError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(o, name)}")
    if o.workers < 0 or o.patience < 0:
        raise OptionsError("--workers and --patience must be >= 0")
    if o.lr is not None and o.lr <= 0:
        raise OptionsError(f"--lr must be > 0, got {o.lr}")
    if not 0 <= o.warmup < 1:
        raise OptionsError(f"--warmup is a fraction of the steps, in [0, 1); got {o.warmup}")
    if o.pooling not in POOLING_CHOICES:
        from uer_ray.suggest import did_you_mean

        raise OptionsError(f"--pooling {o.pooling!r} is not one of {', '.join(POOLING_CHOICES)}"
                           f"{did_you_mean(o.pooling, POOLING_CHOICES)}")
    if o.pooling != "auto" and o.task == "tag":
        raise OptionsError("--pooling applies to sentence-level tasks, not tag")
    if o.crf and o.task != "tag":
        raise OptionsError(f"--crf is an output layer for the tag task, not {o.task}")
    if not o.init and o.model is None:
        raise OptionsError("give --init CKPT (a pre-trained model) or --model PRESET (from scratch)")
    check_device(o.device)


# -- set-up -----------------------------------------------------------------------------------
@dataclass
class Prepared:
    """Everything a run needs, checked before training starts."""

    task: Any
    labels: Any
    settings: Any  # TaskSettings
    data: dict
    ft: Any  # FinetuneModel
    tokenizer: Any
    source: str
    init: str | None
    preset: str | None
    hp: Any  # Hyperparameters
    files: dict


def _init_folder(init: str | None, zoo: str | None = None) -> str | None:
    """The local checkpoint folder of ``init`` (a zoo entry or a URI is fetched and verified)."""
    if init is None:
        return None
    from uer_ray.models.checkpoint import checkpoint_folder
    from uer_ray.zoo import resolve_checkpoint

    return str(checkpoint_folder(resolve_checkpoint(init, zoo=zoo)))


def load_base(o: FinetuneOptions, init: str | None):
    """(model, tokenizer, description) from ``init`` and/or ``model``."""
    from uer_ray.models import build_model, load_model, load_preset, load_weights
    from uer_ray.tokenizers import build_tokenizer, load_tokenizer

    if init and o.model is None:
        model = load_model(init)
        if model.tokenizer is None:
            raise InputError("the checkpoint has no tokenizer/ folder", init)
        return model, model.tokenizer, f"checkpoint {init}"
    config = load_preset(o.model)
    name = o.model if isinstance(o.model, str) else "a config dict"
    if init:
        tokenizer = load_tokenizer(Path(init) / "tokenizer")
    elif o.vocab or o.spm_model:
        kind = "sentencepiece" if o.spm_model else o.tokenizer
        tokenizer = build_tokenizer(kind, vocab=o.vocab, spm_model=o.spm_model)
    else:
        raise OptionsError(f"--model {name} without --init needs a vocabulary: --vocab FILE "
                           "(or --spm-model FILE --tokenizer sentencepiece)")
    model = build_model(config, vocab_size=tokenizer.vocab_size)
    if init:
        load_weights(model, init)
        return model, tokenizer, f"{name} initialised from {init}"
    return model, tokenizer, f"{name} from scratch"


def resolve_pooling(choice: str, model) -> str:
    if choice != "auto":
        return choice
    kinds = model.config.encoder_names
    if kinds[-1] == "gpt":
        return "last"  # a causal encoder has read the whole text only at the last token
    return "first" if kinds[-1] == "transformer" else "mean"


def resolve_lr(lr: float | None, model, pretrained: bool) -> float:
    if lr is not None:
        return lr
    if any(k in ("transformer", "gpt") for k in model.config.encoder_names):
        return 2e-5 if pretrained else 1e-4
    return 1e-3


def _preset_name(o: FinetuneOptions, init: str | None) -> str | None:
    from uer_ray.models import list_presets
    from uer_ray.records import find_record, read_record

    if isinstance(o.model, str) and o.model in list_presets():
        return o.model
    if init and o.model is None:
        found = find_record(init)
        try:
            return read_record(found)["model"].get("preset") if found else None
        except UerRayError:
            return None
    return None


def prepare(o: FinetuneOptions) -> Prepared:
    """Read and check the files, build the model and its head, encode the examples."""
    from uer_ray.tasks.checkpoint import TaskSettings, build_finetune_model, build_task
    from uer_ray.tasks.loop import Hyperparameters

    task, _ = build_task(TaskSettings(o.task, None, "first", o.seq_length))
    rows = {"train": task.read(o.train)}
    task.adapt_to(rows["train"])
    labels = task.build_labels(rows["train"], o.train)
    rows["dev"] = task.read(o.dev)
    rows["test"] = task.read(o.test) if o.test else None
    init = _init_folder(o.init, o.zoo)
    model, tokenizer, source = load_base(o, init)
    if o.seq_length > model.config.max_seq_length:
        raise OptionsError(f"--seq-length {o.seq_length} exceeds the model's max_seq_length "
                           f"{model.config.max_seq_length}")
    settings = TaskSettings(
        task=o.task, labels=labels.labels if labels is not None else None,
        pooling=resolve_pooling(o.pooling, model), seq_length=o.seq_length, crf=o.crf,
        columns=list(task.text_columns))
    paths = {"train": o.train, "dev": o.dev, "test": o.test}
    data = {split: task.encode(r, paths[split], tokenizer, labels, o.seq_length) if r else None
            for split, r in rows.items()}
    ft = build_finetune_model(model, task, settings)
    if o.freeze:
        ft.freeze_encoder()
    hp = Hyperparameters(
        epochs=o.epochs, batch_size=o.batch_size, lr=resolve_lr(o.lr, model, bool(init)),
        warmup=o.warmup, weight_decay=o.weight_decay, grad_accum=o.grad_accum,
        patience=o.patience, seed=o.seed, freeze=o.freeze)
    files = {split: {"path": str(Path(p).absolute()), "rows": len(rows[split])}
             for split, p in paths.items() if p}
    return Prepared(task, labels, settings, data, ft, tokenizer, source, init,
                    _preset_name(o, init), hp, files)


def make_optimizer(ft, hp, n_examples: int):
    """AdamW and the linear warm-up/decay schedule over the run's optimiser steps."""
    from uer_ray.train.optim import build_optimizer, build_scheduler

    total = hp.optimizer_steps(n_examples)
    optimizer = build_optimizer(ft, lr=hp.lr, weight_decay=hp.weight_decay)
    scheduler = build_scheduler(optimizer, kind="linear", warmup_steps=int(hp.warmup * total),
                                total_steps=total)
    return optimizer, scheduler


# -- the stage --------------------------------------------------------------------------------
def finetune(options: FinetuneOptions, *, on_epoch: Callable[[dict], None] | None = None) -> dict:
    """Fine-tune as ``options`` say; returns the result record written to ``metrics.json``."""
    import torch

    from uer_ray.atomic import atomic_dir

    check_options(options)
    o = options
    torch.set_flush_denormal(True)  # denormals slow CPU matmuls badly late in training
    random.seed(o.seed)
    torch.manual_seed(o.seed)
    p = prepare(o)
    start = time.perf_counter()
    out = Path(o.out).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    # W&B writes while training runs; its files join the output folder at the end.
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.wandb-", dir=out.parent))
    try:
        with atomic_dir(out) as tmp:
            wandb = _open_wandb(o, p, Path(o.wandb_dir) if o.wandb_dir else scratch)
            run = wandb.describe()
            try:
                fitted, test, device = _train_and_test(o, p, wandb, on_epoch)
            finally:
                wandb.finish()
            record = _record(o, p, fitted, test, device, time.perf_counter() - start)
            if run is not None:  # where the run lives once its files moved into OUT
                record["wandb"] = {**run, "dir": o.wandb_dir or str(out)}
            _write_outputs(tmp, p, fitted, record, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if o.publish is not None:
        record = {**record, "published": publish_result(record, o.publish, o.zoo)}
    return record


def _train_and_test(o: FinetuneOptions, p: Prepared, wandb, on_epoch):
    """Train (here or on Ray), evaluate test with the best weights, log the summary to W&B.
    Returns (fit summary, test metrics or None, device name)."""
    from uer_ray.records import numeric
    from uer_ray.tasks.loop import Runtime, evaluate

    frozen_before = _fingerprint(p.ft) if o.freeze else None
    hooks = _epoch_hooks(o, p, wandb, on_epoch)
    if o.workers > 0:
        from uer_ray.train.finetune_ray import train_on_ray

        fitted, device = train_on_ray(o, p, on_epoch=hooks)
    else:
        fitted, device = _train_here(o, p, on_epoch=hooks)
    if frozen_before is not None and _fingerprint(p.ft) != frozen_before:
        raise RuntimeError("--freeze: the encoder changed during training (a bug)")
    test = None
    runtime = Runtime(pad_id=p.tokenizer.pad_id, vocab_size=p.tokenizer.vocab_size,
                      device=device, bf16=o.bf16)
    if p.data["test"] is not None:
        p.ft.to(device)
        test = evaluate(p.ft, p.ft.head, p.task, p.data["test"], p.labels,
                        batch_size=p.hp.batch_size, pad_id=p.tokenizer.pad_id, runtime=runtime,
                        progress=o.progress, desc="test")
    p.ft.to("cpu")
    wandb.summary({**numeric(fitted["best_dev"], "best_dev"), **numeric(test, "test"),
                   "best_epoch": fitted["best_epoch"]})
    return fitted, test, device


def _train_here(o: FinetuneOptions, p: Prepared, on_epoch) -> tuple[dict, str]:
    """The in-process path; loads the best weights into ``p.ft``."""
    from uer_ray.tasks.loop import Runtime, fit
    from uer_ray.train.devices import resolve_device

    device = resolve_device(o.device)
    runtime = Runtime(pad_id=p.tokenizer.pad_id, vocab_size=p.tokenizer.vocab_size,
                      device=device, bf16=o.bf16)
    p.ft.to(device)
    optimizer, scheduler = make_optimizer(p.ft, p.hp, len(p.data["train"]))
    result = fit(p.ft, p.task, p.data["train"], p.data["dev"], p.labels, hp=p.hp,
                 runtime=runtime, optimizer=optimizer, scheduler=scheduler, on_epoch=on_epoch,
                 progress=o.progress)
    if result.best_state is not None:
        p.ft.load_state_dict(result.best_state)
    return result.summary(), device


def _epoch_hooks(o: FinetuneOptions, p: Prepared, wandb, on_epoch):
    """After each epoch: its line on the console, its record to W&B, then the caller's hook."""
    from uer_ray.records import numeric

    metric = f"dev/{p.task.select_metric}"

    def hook(record: dict) -> None:
        wandb.log({k: v for k, v in numeric(record).items() if k != "epoch"}, step=record["epoch"])
        if o.progress:
            print(f"epoch {record['epoch']}/{o.epochs}: train loss {record['train/loss']:.4f}, "
                  f"{metric} {record.get(metric, float('nan')):.4f}, "
                  f"{record['epoch_seconds']:.0f} s", flush=True)
        if on_epoch is not None:
            on_epoch(dict(record))

    return hook


def _fingerprint(ft) -> list[float]:
    return [float(t.detach().double().sum()) for t in ft.model.parameters()]


def _open_wandb(o: FinetuneOptions, p: Prepared, folder: Path):
    """The run's W&B handle (the driver logs; workers never do): offline files in ``folder``
    unless ``wandb_mode``/``WANDB_MODE`` say otherwise."""
    from uer_ray.tracking import WandbRun, WandbSettings, describe_model

    names = describe_model(p.ft.model.config.to_dict())
    arch = names["name"].rsplit("/", 1)[0]  # embedding/encoder: the pre-training targets are gone
    start = "pretrained" if p.init else "scratch"
    settings = WandbSettings(
        project=o.wandb_project, name=o.wandb_name or f"{o.task}/{arch}/{start}",
        group=o.wandb_group or f"finetune-{o.task}",
        tags=[f"task:{o.task}", f"start:{start}", *names["tags"], *o.wandb_tags],
        mode=o.wandb_mode, dir=str(folder), job_type="finetune")
    config = {"task": o.task, "dataset": o.dataset_name, "source": p.source,
              "pooling": p.settings.pooling, "seq_length": o.seq_length, "freeze": o.freeze,
              "crf": o.crf, "workers": o.workers, "epochs": o.epochs, "batch_size": o.batch_size,
              "lr": p.hp.lr, "warmup": o.warmup, "patience": o.patience, "seed": o.seed,
              **{f"provenance.{k}": v for k, v in o.provenance.items()}, **o.wandb_config}
    state = random.getstate()  # W&B must not shift the seeded Python random stream
    try:
        return WandbRun(settings, config)
    finally:
        random.setstate(state)


def _record(o: FinetuneOptions, p: Prepared, fitted: dict, test: dict | None, device: str,
            seconds: float) -> dict:
    from uer_ray.records import build_record, metric_rows, model_section, parent_of, sha256_file

    history = fitted["history"]
    epochs = [r["epoch_seconds"] for r in history]
    files = {split: {**info, "sha256": sha256_file(info["path"])} for split, info in p.files.items()}
    results = {
        "task": o.task, "source": p.source, "select_metric": p.task.select_metric,
        "best_epoch": fitted["best_epoch"], "epochs_run": len(history),
        "stopped_early": fitted["stopped_early"], "dev": fitted["best_dev"], "test": test,
        "history": history,
        "examples": {k: len(v) for k, v in p.data.items() if v is not None},
        "labels": p.settings.labels, "pooling": p.settings.pooling,
        "seq_length": p.settings.seq_length, "freeze": o.freeze, "crf": o.crf,
        "workers": o.workers, "lr": p.hp.lr,
        "seconds_per_epoch": sum(epochs) / len(epochs) if epochs else 0.0,
    }
    model = p.ft.model
    n_params = sum(t.numel() for t in model.parameters())
    dataset = o.dataset_name
    return build_record(
        stage="finetune", name=o.wandb_name or _default_name(o, p),
        model=model_section(model.config.to_dict(), n_params, p.preset),
        data={"finetune": {"dataset": dataset, "task": o.task, "files": files}},
        parent=parent_of(p.init, "fine-tuned from", _zoo_ref(p.init)), options=o.to_dict(),
        results=results,
        metrics=metric_rows(o.task, dataset, "dev", fitted["best_dev"])
        + metric_rows(o.task, dataset, "test", test),
        checkpoint=o.out, seconds=seconds, device=device, provenance=o.provenance)


def _zoo_ref(folder: str | None) -> str | None:
    """``NAME@VERSION`` when the starting checkpoint is a zoo version."""
    if folder is None:
        return None
    from uer_ray.zoo import entry_of

    return entry_of(folder)


def publish_result(record: dict, name: str | None, zoo: str | None, *,
                   aliases: tuple = (), provenance: dict | None = None) -> dict:
    """Publish a stage's checkpoint to the zoo; with W&B on, also log it as a model artifact of
    the stage's run (a reference to the zoo version). Returns ``{"entry", "uri"}``."""
    from uer_ray.zoo import publish

    ref = publish(record["checkpoint"], name=name or None, zoo=zoo, aliases=aliases,
                  provenance=provenance)
    run = record.get("wandb")
    if run and run.get("mode") != "disabled":
        from uer_ray.tracking.wandb_run import log_model_artifact

        log_model_artifact(run, name=f"{ref.name}-{ref.version}", reference=_reference(ref.uri),
                           metadata={"zoo_entry": f"{ref.name}@{ref.version}", "zoo_uri": ref.uri,
                                     "stage": record["stage"], "metrics": record["metrics"]},
                           aliases=["latest", *aliases])
    return {"entry": f"{ref.name}@{ref.version}", "uri": ref.uri}


def _reference(uri: str) -> str:
    """A W&B reference URI for a zoo version (local folders become file:// URIs)."""
    return uri if "://" in uri else Path(uri).absolute().as_uri()


def _default_name(o: FinetuneOptions, p: Prepared) -> str:
    from uer_ray.tracking import describe_model

    arch = describe_model(p.ft.model.config.to_dict())["name"].rsplit("/", 1)[0]
    return f"{o.task}/{arch}/{'pretrained' if p.init else 'scratch'}"


def _write_outputs(folder: Path, p: Prepared, fitted: dict, record: dict, scratch: Path) -> None:
    import json

    from uer_ray.atomic import write_json
    from uer_ray.records import numeric
    from uer_ray.tasks.checkpoint import save_finetuned

    results = record["results"]
    # save_pretrained writes the folder afresh, so everything else goes in after it.
    save_finetuned(folder, p.ft, p.tokenizer, p.settings,
                   meta={"produced_by": "finetune", "task": results["task"], "source": p.source,
                         "best_epoch": results["best_epoch"], "dev": numeric(results["dev"]),
                         "test": numeric(results["test"])})
    if (scratch / "wandb").exists():
        shutil.move(scratch / "wandb", folder / "wandb")
    with open(folder / "metrics.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in fitted["history"])
    write_json(folder / "metrics.json", record)


def summary_paragraph(record: dict) -> str:
    """The one paragraph ``run.py finetune`` ends with."""
    r = record["results"]
    metric = r["select_metric"]
    dev = r["dev"].get(metric, float("nan"))
    test = f"; test {metric} {r['test'][metric]:.4f}" if r["test"] else ""
    where = f"{r['workers']} Ray workers" if r["workers"] else "in-process"
    early = " (stopped early)" if r["stopped_early"] else ""
    out = record["checkpoint"]
    published = (f" Published to the zoo as {record['published']['entry']}."
                 if record.get("published") else "")
    return (
        f"Fine-tuned {r['task']} ({r['source']}"
        f"{', CRF' if r['crf'] else ''}{'' if r['task'] == 'tag' else ', pooling ' + r['pooling']}"
        f"{', encoder frozen' if r['freeze'] else ''}) on {r['examples']['train']:,} examples "
        f"for {r['epochs_run']} epoch(s){early}, {r['seconds_per_epoch']:.1f} s/epoch {where} "
        f"on {record['device']}; best dev {metric} {dev:.4f} at epoch {r['best_epoch']}{test}. "
        f"Model and metrics.json in {out}; predict with: python run.py predict --model {out} "
        "--input FILE --out FILE." + published
    )
