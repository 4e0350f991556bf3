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
    """a name of the ``TASKS`` registry: classify, pair, tag, dbqa, regress, ..."""
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
    metric: str | None = None
    """the dev metric that picks the best epoch (None: the task's; text2text: bleu, rouge_l or
    exact_match)"""
    beams: int = 1
    """text2text: beam search with this many beams when dev and test generate (1: greedy)"""
    tgt_seq_length: int = 32
    """text2text: target tokens with [CLS] and [SEP] (longer labels are cut); generation writes
    at most this many minus one"""
    epochs: int = 3
    batch_size: int = 32
    """rows per micro-batch, however many workers share it"""
    grad_accum: int = 1
    lr: float | None = None
    """peak learning rate (None: what the encoder declares, e.g. 2e-5 for a pre-trained
    transformer, 1e-4 for a fresh one, 1e-3 for recurrent and convolutional encoders)"""
    warmup: float = 0.1
    weight_decay: float = 0.01
    adam_bias_correction: bool = False
    """torch's AdamW (True), or BERT's and UER-py's update without bias correction"""
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
    # mrc (docs/finetune.md#mrc): windows over long contexts and the spans read off them
    doc_stride: int = 128
    """mrc: context tokens between the starts of two windows of a long context"""
    max_query_length: int = 64
    """mrc: question tokens kept (the rest is cut)"""
    n_best: int = 20
    """mrc: the highest start and end logits of a window that spans are formed from"""
    max_answer_length: int = 30
    """mrc: the longest answer span, in tokens"""
    threshold: float | None = None
    """multi_label: the decision threshold (None: the one that maximises micro F1 on dev)"""
    tower: str = "shared"
    """siamese: ``shared`` (one encoder reads both texts) or ``separate`` (text_b has a copy)"""
    siamese_objective: str = "classify"
    """siamese: ``classify`` (softmax over [u, v, |u-v|]), ``cosine`` (cos(u, v) regressed on a
    score) or ``simcse`` (unsupervised: in-batch InfoNCE over two dropout views of text_a)"""
    temperature: float = 0.05  # uer_ray.tasks.siamese.TEMPERATURE (no task import at start-up)
    """siamese --siamese-objective simcse: the InfoNCE temperature"""

    @property
    def dataset_name(self) -> str:
        return self.dataset or Path(self.train).absolute().parent.name


def check_options(o: FinetuneOptions) -> None:
    """Reject contradictory or impossible options before any file is read."""
    from uer_ray.suggest import did_you_mean
    from uer_ray.tasks import TASKS
    from uer_ray.train.devices import check_device

    task = TASKS.get(o.task)  # an unknown task fails here, with "did you mean"
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
        raise OptionsError(f"--pooling {o.pooling!r} is not one of {', '.join(POOLING_CHOICES)}"
                           + did_you_mean(o.pooling, POOLING_CHOICES))
    if o.pooling != "auto" and task.output != "pooled":
        raise OptionsError(f"--pooling applies to tasks with one output per text, not {o.task} "
                           "(one output per token)")
    if o.crf and not task.takes_crf:
        takers = ", ".join(n for n, t in TASKS.items() if t.takes_crf)
        raise OptionsError(f"--crf is an output layer for {takers}, not {o.task}")
    choices = task.selectable_metrics()
    if o.metric is not None and o.metric not in choices:
        raise OptionsError(f"--metric {o.metric!r}: task {o.task} picks its best epoch by "
                           f"{', '.join(choices)}" + did_you_mean(o.metric, choices))
    if not task.generative and (o.beams != 1 or o.tgt_seq_length != 32):
        takers = ", ".join(n for n, t in TASKS.items() if t.generative)
        raise OptionsError(f"--beams and --tgt-seq-length apply to tasks that generate text "
                           f"({takers}), not {o.task}")
    if o.beams < 1 or o.tgt_seq_length < 3:
        raise OptionsError(f"--beams must be >= 1 and --tgt-seq-length >= 3 ([CLS], a token, "
                           f"[SEP]); got {o.beams} and {o.tgt_seq_length}")
    if o.freeze and task.generative:
        raise OptionsError(f"--freeze trains a head on a fixed encoder; {o.task} has no head "
                           "apart from the model's decoder, which trains with the encoder")
    _check_task_fields(o, task)
    if not o.init and o.model is None:
        raise OptionsError("give --init CKPT (a pre-trained model) or --model PRESET (from scratch)")
    check_device(o.device)


def _check_task_fields(o: FinetuneOptions, task) -> None:
    """Options that only some tasks read (``Task.option_fields``) are refused elsewhere when
    set, and integers checked (>= 1) where they apply; the task's ``configure`` checks the rest
    of their values."""
    from dataclasses import fields

    from uer_ray.tasks import TASKS

    defaults = {f.name: f.default for f in fields(FinetuneOptions)}
    for name, cls in TASKS.items():
        for field_name in cls.option_fields:
            flag = f"--{field_name.replace('_', '-')}"
            value = getattr(o, field_name)
            if field_name not in task.option_fields and value != defaults[field_name]:
                raise OptionsError(f"{flag} applies to task {name}, not {o.task}")
            if field_name in task.option_fields and isinstance(value, int) and value < 1:
                raise OptionsError(f"{flag} must be >= 1, got {value}")
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
    from uer_ray.tokenizers import build_tokenizer, load_tokenizer, tokenizer_kind

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
        tokenizer = build_tokenizer(tokenizer_kind(o.tokenizer, o.spm_model), vocab=o.vocab,
                                    spm_model=o.spm_model)
    else:
        raise OptionsError(f"--model {name} without --init needs a vocabulary: --vocab FILE "
                           "(or --spm-model FILE --tokenizer sentencepiece)")
    model = build_model(config, vocab_size=tokenizer.vocab_size,
                        tgt_vocab_size=shared_tgt_vocab_size(config, tokenizer.vocab_size))
    if init:
        load_weights(model, init)
        return model, tokenizer, f"{name} initialised from {init}"
    return model, tokenizer, f"{name} from scratch"


def shared_tgt_vocab_size(config: dict, vocab_size: int) -> int | None:
    """``vocab_size`` for a config whose target writes into a target-side vocabulary (``mt``)
    but names no ``tgt_vocab_size``: it shares the source one (as text2text from scratch
    does); None otherwise."""
    from uer_ray.targets import TARGETS

    if config.get("tgt_vocab_size") is not None:
        return None
    names = config.get("targets") or {}
    writes = any(n in TARGETS and TARGETS.get(n).output_vocabulary == "target" for n in names)
    return vocab_size if writes else None


def resolve_pooling(choice: str, model) -> str:
    """``--pooling``, or for ``auto`` what the (last) encoder declares (``Encoder.default_pooling``)."""
    from uer_ray.models.builder import encoder_facts

    return choice if choice != "auto" else encoder_facts(model.config).default_pooling


def resolve_lr(lr: float | None, model, pretrained: bool) -> float:
    """``--lr``, or what the encoder declares (``Encoder.lr_pretrained`` / ``lr_scratch``; the
    smallest over a stack)."""
    if lr is not None:
        return lr
    from uer_ray.models.builder import encoder_facts

    facts = encoder_facts(model.config)
    return facts.lr_pretrained if pretrained else facts.lr_scratch


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

    options = _task_options(o)
    task, _ = build_task(TaskSettings(o.task, None, "first", o.seq_length, options=options))
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
    if model.tokenizer is None:
        model.tokenizer = tokenizer  # a model from scratch (generation decodes with it)
    settings = TaskSettings(
        task=o.task, labels=labels.labels if labels is not None else None,
        pooling=resolve_pooling(task.default_pooling if o.pooling == "auto" and task.default_pooling
                                else o.pooling, model), seq_length=o.seq_length, crf=o.crf,
        columns=list(task.text_columns), options=options)
    # the model first: a task may check it and read its vocabularies before encoding
    ft = build_finetune_model(model, task, settings)
    paths = {"train": o.train, "dev": o.dev, "test": o.test}
    data = {split: task.encode(r, paths[split], tokenizer, labels, o.seq_length) if r else None
            for split, r in rows.items()}
    if o.freeze:
        ft.freeze_encoder()
    hp = Hyperparameters(
        epochs=o.epochs, batch_size=o.batch_size, lr=resolve_lr(o.lr, model, bool(init)),
        warmup=o.warmup, weight_decay=o.weight_decay,
        adam_bias_correction=o.adam_bias_correction, grad_accum=o.grad_accum,
        patience=o.patience, seed=o.seed, freeze=o.freeze)
    files = {split: {"path": str(Path(p).absolute()), "rows": len(rows[split])}
             for split, p in paths.items() if p}
    return Prepared(task, labels, settings, data, ft, tokenizer, source, init,
                    _preset_name(o, init), hp, files)


def _task_options(o: FinetuneOptions) -> dict:
    """What ``task.json`` records besides the common settings (``TaskSettings.options``)."""
    from uer_ray.tasks import TASKS

    options = {"metric": o.metric} if o.metric is not None else {}
    if TASKS.get(o.task).generative:
        options.update(beams=o.beams, tgt_seq_length=o.tgt_seq_length)
    options.update({name: getattr(o, name) for name in TASKS.get(o.task).option_fields})
    return options


# -- the stage --------------------------------------------------------------------------------
def finetune(options: FinetuneOptions, *, on_epoch: Callable[[dict], None] | None = None) -> dict:
    """Fine-tune as ``options`` say; returns the result record written to ``metrics.json``."""
    import torch

    from uer_ray.atomic import atomic_dir
    from uer_ray.train import finetune_record
    from uer_ray.train.publish import publish_result

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
            wandb = finetune_record.open_wandb(o, p, Path(o.wandb_dir) if o.wandb_dir else scratch)
            run = wandb.describe()
            try:
                fitted, test, device = _train_and_test(o, p, wandb, on_epoch)
            finally:
                wandb.finish()
            record = finetune_record.build(o, p, fitted, test, device, time.perf_counter() - start)
            if run is not None:  # where the run lives once its files moved into OUT
                record["wandb"] = {**run, "dir": o.wandb_dir or str(out)}
            finetune_record.write_outputs(tmp, p, fitted, record, scratch)
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
    p.settings.options.update(p.task.settle(fitted["best_dev"]))  # e.g. a threshold tuned on dev
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
    from uer_ray.train.optim import make_optimizer

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


