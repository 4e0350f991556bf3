"""``run.py finetune``: fine-tune a pre-trained (``--init``) or fresh (``--model``) model on a
downstream task (UER paper §3.3-3.4), keep the best model on dev, report test metrics.

``--workers 0`` (the default) trains in this process, the fast path for small data; ``--workers
N`` runs N data-parallel Ray Train workers through ``uer_ray.train.driver`` (as pre-training
does). Either way the output folder is a checkpoint directory plus ``task.json``,
``head.safetensors``, ``metrics.json`` and ``metrics.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from uer_ray.atomic import atomic_dir, write_json
from uer_ray.errors import InputError, UerRayError
from uer_ray.tasks.checkpoint import TaskSettings, build_finetune_model, build_task, save_finetuned
from uer_ray.tasks.heads import POOLINGS, FinetuneModel
from uer_ray.tasks.loop import evaluate, fit, steps_per_epoch

TASK_NAMES = ("classify", "pair", "tag", "dbqa", "regress")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, choices=TASK_NAMES)
    p.add_argument("--train", required=True, help="training TSV (header row names the columns)")
    p.add_argument("--dev", required=True, help="dev TSV: picks the best epoch, drives early stopping")
    p.add_argument("--test", help="test TSV, evaluated once with the best model")
    p.add_argument("--out", required=True, help="output folder: the fine-tuned model and metrics")
    p.add_argument("--init", help="checkpoint folder to start from (pre-trained model)")
    p.add_argument("--model", help="preset name or JSON config (from scratch, or shaped for --init)")
    p.add_argument("--vocab", help="vocabulary file, when --model starts without a checkpoint")
    p.add_argument("--spm-model", help="SentencePiece model, with --tokenizer sentencepiece")
    p.add_argument("--tokenizer", default="wordpiece", help="tokenizer kind with --vocab (default wordpiece)")
    p.add_argument("--freeze", action="store_true", help="train only the head (encoder frozen)")
    p.add_argument("--pooling", choices=("auto", *POOLINGS), default="auto",
                   help="how a sentence vector is read off the encoder (auto: first for "
                   "transformers, last for gpt, mean for recurrent and convolutional encoders)")
    p.add_argument("--crf", action="store_true", help="tag task: CRF output layer")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, help="peak learning rate (default: 2e-5 for a pre-trained "
                   "transformer, 1e-4 for a fresh one, 1e-3 for other encoders)")
    p.add_argument("--warmup", type=float, default=0.1, help="fraction of steps to warm up")
    p.add_argument("--seq-length", type=int, default=128)
    p.add_argument("--patience", type=int, default=0,
                   help="stop after this many epochs without a better dev score (0: never)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--workers", type=int, default=0, help="Ray Train workers (0: in this process)")
    p.add_argument("--address", help="Ray cluster to attach to (default: an embedded one)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    g = p.add_argument_group("W&B (offline files under OUT/wandb unless configured)")
    g.add_argument("--wandb-project", default="uer_ray")
    g.add_argument("--wandb-group", help="default: finetune-TASK")
    g.add_argument("--wandb-name", help="default: TASK/embedding/encoder (+pretrained)")
    g.add_argument("--wandb-mode", choices=["offline", "online", "disabled"],
                   help="default: WANDB_MODE, else offline")


# -- set-up ---------------------------------------------------------------------------------
def load_base(args: argparse.Namespace):
    """(model, tokenizer, where it came from) from --init and/or --model."""
    from uer_ray.models import build_model, load_model, load_preset, load_weights
    from uer_ray.tokenizers import build_tokenizer, load_tokenizer

    if not args.init and not args.model:
        raise UerRayError("give --init CKPT (a pre-trained model) or --model PRESET (from scratch)")
    if args.init and not (Path(args.init) / "config.json").exists() and (Path(args.init) / "final" / "config.json").exists():
        args.init = str(Path(args.init) / "final")  # a pretrain --out folder: its final model
    if args.init and not args.model:
        model = load_model(args.init)
        tokenizer = getattr(model, "tokenizer", None)
        if tokenizer is None:
            raise InputError("the checkpoint has no tokenizer/ folder", args.init)
        return model, tokenizer, f"checkpoint {args.init}"
    config = load_preset(args.model)
    if args.init:
        tokenizer = load_tokenizer(Path(args.init) / "tokenizer")
    elif args.vocab or args.spm_model:
        kind = "sentencepiece" if args.spm_model else args.tokenizer
        tokenizer = build_tokenizer(kind, vocab=args.vocab, spm_model=args.spm_model)
    else:
        raise UerRayError(f"--model {args.model} without --init needs a vocabulary: --vocab FILE "
                          "(or --spm-model FILE --tokenizer sentencepiece)")
    model = build_model(config, vocab_size=tokenizer.vocab_size)
    if args.init:
        load_weights(model, args.init)
        return model, tokenizer, f"{args.model} initialised from {args.init}"
    return model, tokenizer, f"{args.model} from scratch"


def encoder_kinds(model) -> list[str]:
    return list(model.config.encoder_names)


def resolve_pooling(choice: str, model) -> str:
    if choice != "auto":
        return choice
    kinds = encoder_kinds(model)
    if kinds and kinds[-1] == "gpt":
        return "last"  # a causal encoder has read the whole text only at the last token
    return "first" if kinds and kinds[-1] == "transformer" else "mean"


def resolve_lr(lr: float | None, model, pretrained: bool) -> float:
    if lr is not None:
        return lr
    if any(k in ("transformer", "gpt") for k in encoder_kinds(model)):
        return 2e-5 if pretrained else 1e-4
    return 1e-3


def read_data(task, args):
    """Rows of train/dev/test (all checked before any model is built) and the label map."""
    train_rows = task.read(args.train)
    task.adapt_to(train_rows)
    labels = task.build_labels(train_rows, args.train)
    dev_rows = task.read(args.dev)
    test_rows = task.read(args.test) if args.test else None
    return train_rows, dev_rows, test_rows, labels


# -- training ---------------------------------------------------------------------------------
def make_optimizer(ft: FinetuneModel, lr: float, warmup: float, total_steps: int):
    from uer_ray.train.optim import build_optimizer, build_scheduler

    optimizer = build_optimizer(ft, lr=lr)
    scheduler = build_scheduler(optimizer, kind="linear", warmup_steps=int(warmup * total_steps),
                                total_steps=total_steps)
    return optimizer, scheduler


def train_local(ft: FinetuneModel, task, labels, data: dict, hp: dict, on_epoch=None) -> dict:
    """The in-process path; returns the fit result as a plain dict."""
    total = steps_per_epoch(len(data["train"]), hp["batch_size"]) * hp["epochs"]
    optimizer, scheduler = make_optimizer(ft, hp["lr"], hp["warmup"], total)
    result = fit(ft, task, data["train"], data["dev"], labels, optimizer=optimizer,
                 scheduler=scheduler, epochs=hp["epochs"], batch_size=hp["batch_size"],
                 seed=hp["seed"], pad_id=hp["pad_id"], patience=hp["patience"],
                 frozen=hp["freeze"], on_epoch=on_epoch, progress=hp["progress"])
    if result.best_state is not None:
        ft.load_state_dict(result.best_state)
    return {"best_epoch": result.best_epoch, "best_dev": result.best_dev,
            "history": result.history, "stopped_early": result.stopped_early}


def _epoch_callback(task, hp: dict, wandb):
    """After each in-process epoch: its line on the console (unless --quiet), its record to W&B."""
    metric = f"dev/{task.select_metric}"

    def show(record: dict) -> None:
        wandb.log(_loggable(record), step=record["epoch"])
        if hp["progress"]:
            print(f"epoch {record['epoch']}/{hp['epochs']}: train loss {record['train/loss']:.4f}, "
                  f"{metric} {record.get(metric, float('nan')):.4f}, {record['epoch_seconds']:.0f} s",
                  flush=True)

    return show


def _loggable(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "epoch" and isinstance(v, (int, float))}


def open_wandb(args: argparse.Namespace, s: Setup, folder: Path):
    """The run's W&B handle (the driver logs; workers never do): offline files in
    ``folder/wandb`` unless ``--wandb-mode``/``WANDB_MODE`` say otherwise."""
    from uer_ray.tracking import WandbRun, WandbSettings, describe_model

    names = describe_model(s.ft.model.config.to_dict())
    arch = names["name"].rsplit("/", 1)[0]  # embedding/encoder: the pre-training targets are gone
    start = "pretrained" if args.init else "scratch"
    settings = WandbSettings(
        project=args.wandb_project,
        name=args.wandb_name or f"{args.task}/{arch}/{start}",
        group=args.wandb_group or f"finetune-{args.task}",
        tags=[f"task:{args.task}", f"start:{start}", *names["tags"]],
        mode=args.wandb_mode, dir=str(folder),
    )
    config = {"task": args.task, "source": s.source, "pooling": s.settings.pooling,
              "seq_length": s.settings.seq_length, "freeze": args.freeze, "crf": args.crf,
              "workers": args.workers, **{k: s.hp[k] for k in ("epochs", "batch_size", "lr",
                                                              "warmup", "patience", "seed")}}
    state = random.getstate()  # W&B must not shift the seeded Python random stream
    try:
        return WandbRun(settings, config)
    finally:
        random.setstate(state)


def ray_worker_loop(config: dict) -> None:
    """Per-worker loop on Ray Train: every worker trains on its share of the batches with
    gradients averaged by all-reduce; rank 0 evaluates dev and finally reports the best weights."""
    import tempfile

    import ray
    import ray.train
    import torch.distributed as dist

    from uer_ray.models import build_model

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    settings = TaskSettings(**config["settings"])
    task, labels = build_task(settings)
    model = build_model(config["model_config"], vocab_size=config["vocab_size"])
    ft = build_finetune_model(model, task, settings)
    ft.load_state_dict(ray.get(config["state"]))
    hp = config["hp"]
    if hp["freeze"]:
        ft.freeze_encoder()
    train, dev = ray.get(config["train"]), ray.get(config["dev"])
    total = steps_per_epoch(len(train), hp["batch_size"], world) * hp["epochs"]
    optimizer, scheduler = make_optimizer(ft, hp["lr"], hp["warmup"], total)

    def sync_grads(params):
        # One all-reduce of all gradients flattened. Parameters without a gradient (the unused
        # pre-training targets) are the same on every worker and are skipped.
        params = [p for p in params if p.grad is not None]
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(flat)
        flat /= world
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset : offset + n].view_as(p).clone()
            offset += n

    def agree(stop: bool) -> bool:
        flag = torch.tensor([1 if stop else 0])
        dist.broadcast(flag, src=0)
        return bool(flag.item())

    result = fit(ft, task, train, dev, labels, optimizer=optimizer, scheduler=scheduler,
                 epochs=hp["epochs"], batch_size=hp["batch_size"], seed=hp["seed"],
                 pad_id=hp["pad_id"], patience=hp["patience"], frozen=hp["freeze"], rank=rank,
                 world=world, sync_grads=sync_grads if world > 1 else None,
                 agree=agree if world > 1 else None,
                 on_epoch=lambda r: ray.train.report({k: v for k, v in r.items()}),
                 progress=hp["progress"])
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = None
        if rank == 0:
            torch.save(result.best_state, Path(tmp) / "weights.pt")
            info = {"best_epoch": result.best_epoch, "best_dev": result.best_dev,
                    "history": result.history, "stopped_early": result.stopped_early}
            (Path(tmp) / "fit.json").write_text(json.dumps(info), encoding="utf-8")
            checkpoint = ray.train.Checkpoint.from_directory(tmp)
        ray.train.report({"done": 1}, checkpoint=checkpoint)


def train_on_ray(ft: FinetuneModel, settings: TaskSettings, data: dict, hp: dict, args) -> dict:
    """Run ``ray_worker_loop`` on ``args.workers`` Ray Train workers; load the best weights."""
    import ray

    from uer_ray.cluster import ensure_ray
    from uer_ray.train.driver import RunSpec, WorkerSpec, clear_run
    from uer_ray.train.driver import fit as ray_fit

    started = ensure_ray(args.address)
    work = Path(f"{Path(args.out).absolute()}.ray-work")
    name = "finetune"
    try:
        clear_run(work, name)
        config = {
            "settings": settings.__dict__, "model_config": ft.model.config.to_dict(),
            "vocab_size": hp["vocab_size"], "state": ray.put(ft.state_dict()),
            "train": ray.put(data["train"]), "dev": ray.put(data["dev"]),
            "hp": {**hp, "progress": False},
        }
        result = ray_fit(ray_worker_loop, config, run=RunSpec(out_dir=work, name=name),
                         workers=WorkerSpec(workers=args.workers))
        if getattr(result, "error", None):
            raise UerRayError(f"fine-tuning on Ray failed: {result.error}")
        with result.checkpoint.as_directory() as d:
            state = torch.load(Path(d) / "weights.pt", weights_only=True)
            info = json.loads((Path(d) / "fit.json").read_text(encoding="utf-8"))
        if state is not None:
            ft.load_state_dict(state)
        return info
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if started:
            ray.shutdown()


# -- the command -----------------------------------------------------------------------------
@dataclass
class Setup:
    """Everything a run needs, checked before training starts."""

    task: Any
    labels: Any
    settings: TaskSettings
    data: dict
    ft: FinetuneModel
    tokenizer: Any
    source: str
    hp: dict


def prepare(args: argparse.Namespace) -> Setup:
    """Read and check the files, build the model and its head, encode the examples."""
    if args.pooling != "auto" and args.task == "tag":
        raise UerRayError("--pooling applies to sentence-level tasks, not tag")
    if args.crf and args.task != "tag":
        raise UerRayError(f"--crf is an output layer for the tag task, not {args.task}")
    task, _ = build_task(TaskSettings(args.task, None, "first", args.seq_length))
    train_rows, dev_rows, test_rows, labels = read_data(task, args)
    model, tokenizer, source = load_base(args)
    if args.seq_length > model.config.max_seq_length:
        raise UerRayError(f"--seq-length {args.seq_length} exceeds the model's max_seq_length "
                          f"{model.config.max_seq_length}")
    settings = TaskSettings(
        task=args.task, labels=labels.labels if labels is not None else None,
        pooling=resolve_pooling(args.pooling, model), seq_length=args.seq_length, crf=args.crf,
        columns=list(task.text_columns))
    data = {
        "train": task.encode(train_rows, args.train, tokenizer, labels, args.seq_length),
        "dev": task.encode(dev_rows, args.dev, tokenizer, labels, args.seq_length),
        "test": task.encode(test_rows, args.test, tokenizer, labels, args.seq_length) if test_rows else None,
    }
    ft = build_finetune_model(model, task, settings)
    if args.freeze:
        ft.freeze_encoder()
    hp = {"epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
          "lr": resolve_lr(args.lr, model, bool(args.init)), "warmup": args.warmup,
          "patience": args.patience, "freeze": args.freeze, "pad_id": tokenizer.pad_id,
          "vocab_size": tokenizer.vocab_size, "progress": not args.quiet}
    return Setup(task, labels, settings, data, ft, tokenizer, source, hp)


def run(args: argparse.Namespace) -> int:
    torch.set_flush_denormal(True)  # denormals slow CPU matmuls badly late in training
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    s = prepare(args)
    encoder_before = _encoder_fingerprint(s.ft) if args.freeze else None
    out = Path(args.out)
    # W&B writes while training runs; its files join the output folder at the end.
    out.absolute().parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.wandb-", dir=out.absolute().parent))
    try:
        with atomic_dir(out) as tmp:
            wandb = open_wandb(args, s, scratch)
            try:
                summary, info, test = _train_and_test(args, s, wandb, encoder_before)
            finally:
                wandb.finish()
            # save_pretrained writes the folder afresh, so everything else goes in after it.
            save_finetuned(tmp, s.ft, s.tokenizer, s.settings,
                           meta={"produced_by": "finetune", "task": args.task, "source": s.source,
                                 "best_epoch": info["best_epoch"],
                                 "dev": _scalars(info["best_dev"]), "test": _scalars(test or {})})
            if (scratch / "wandb").exists():
                shutil.move(scratch / "wandb", tmp / "wandb")
            with open(tmp / "metrics.jsonl", "w", encoding="utf-8") as f:
                f.writelines(json.dumps(record) + "\n" for record in info["history"])
            write_json(tmp / "metrics.json", summary)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(_summary_text(summary, out))
    return 0


def _train_and_test(args, s: Setup, wandb, encoder_before):
    """Train (in-process or on Ray), evaluate test with the best model, log to W&B."""
    start = time.perf_counter()
    if args.workers > 0:
        info = train_on_ray(s.ft, s.settings, s.data, s.hp, args)
        for record in info["history"]:  # workers report to Ray; the driver logs once
            wandb.log(_loggable(record), step=record["epoch"])
    else:
        info = train_local(s.ft, s.task, s.labels, s.data, s.hp,
                           on_epoch=_epoch_callback(s.task, s.hp, wandb))
    if encoder_before is not None and _encoder_fingerprint(s.ft) != encoder_before:
        raise UerRayError("--freeze: the encoder changed during training (a bug)")
    test = None
    if s.data["test"] is not None:
        test = evaluate(s.ft, s.ft.head, s.task, s.data["test"], s.labels,
                        batch_size=s.hp["batch_size"], pad_id=s.tokenizer.pad_id,
                        progress=s.hp["progress"], desc="test")
    summary = _summary_dict(args, s, info, test, time.perf_counter() - start)
    wandb.summary({**_scalars({f"best_dev/{k}": v for k, v in info["best_dev"].items()}),
                   **_scalars({f"test/{k}": v for k, v in (test or {}).items()}),
                   "best_epoch": info["best_epoch"],
                   "seconds_per_epoch": summary["seconds_per_epoch"]})
    return summary, info, test


def _encoder_fingerprint(ft: FinetuneModel) -> list[float]:
    return [float(p.detach().double().sum()) for p in ft.model.parameters()]


def _scalars(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


def _summary_dict(args, s: Setup, info: dict, test: dict | None, seconds: float) -> dict:
    epochs = [r["epoch_seconds"] for r in info["history"]]
    settings, hp = s.settings, s.hp
    return {
        "task": args.task, "source": s.source, "select_metric": s.task.select_metric,
        "files": {"train": args.train, "dev": args.dev, "test": args.test},
        "examples": {k: len(v) for k, v in s.data.items() if v is not None},
        "labels": settings.labels, "pooling": settings.pooling, "seq_length": settings.seq_length,
        "freeze": args.freeze, "crf": args.crf, "workers": args.workers,
        "hyperparameters": {k: hp[k] for k in ("epochs", "batch_size", "lr", "warmup", "patience", "seed")},
        "best_epoch": info["best_epoch"], "epochs_run": len(info["history"]),
        "stopped_early": info["stopped_early"],
        "seconds_per_epoch": sum(epochs) / len(epochs) if epochs else 0.0,
        "seconds_total": seconds, "dev": info["best_dev"], "test": test, "history": info["history"],
    }


def _summary_text(s: dict, out: Path) -> str:
    metric = s["select_metric"]
    dev = s["dev"].get(metric, float("nan"))
    test = f"; test {metric} {s['test'][metric]:.4f}" if s["test"] else ""
    where = f"{s['workers']} Ray workers" if s["workers"] else "in-process"
    early = " (stopped early)" if s["stopped_early"] else ""
    return (
        f"Fine-tuned {s['task']} ({s['source']}"
        f"{', CRF' if s['crf'] else ''}{'' if s['task'] == 'tag' else ', pooling ' + s['pooling']}"
        f"{', encoder frozen' if s['freeze'] else ''}) on {s['examples']['train']:,} examples "
        f"for {s['epochs_run']} epoch(s){early}, {s['seconds_per_epoch']:.1f} s/epoch {where}; "
        f"best dev {metric} {dev:.4f} at epoch {s['best_epoch']}{test}. Model and metrics.json "
        f"in {out}; predict with: python run.py predict --model {out} --input FILE --out FILE"
    )
