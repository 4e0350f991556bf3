"""``run.py finetune``: arguments -> ``FinetuneOptions`` -> ``uer_ray.train.finetune.finetune``.

Fine-tune a pre-trained (``--init``) or fresh (``--model``) model on a downstream task (UER
paper §3.3-3.4), keep the best model on dev, report test metrics. ``--workers 0`` (the default)
trains in this process; ``--workers N`` runs N data-parallel Ray Train workers (DDP).
"""

from __future__ import annotations

import argparse

from uer_ray.train.finetune import POOLING_CHOICES


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("task and data")
    g.add_argument("--task", required=True,
                   help="classify, pair, tag, dbqa, regress or a task of your own (docs/finetune.md)")
    g.add_argument("--train", required=True, help="training TSV (header row names the columns)")
    g.add_argument("--dev", required=True, help="dev TSV: picks the best epoch, drives early stopping")
    g.add_argument("--test", help="test TSV, evaluated once with the best model")
    g.add_argument("--dataset", help="dataset name for records and the zoo (default: the "
                   "training file's folder name)")
    g.add_argument("--out", required=True, help="output folder: the fine-tuned model and metrics")
    g = p.add_argument_group("model")
    g.add_argument("--init", help="checkpoint to start from: a folder, zoo:NAME[@VERSION|@ALIAS] "
                   "or a URI (s3://...)")
    g.add_argument("--model", help="preset name or JSON config (from scratch, or shaped for --init)")
    g.add_argument("--vocab", help="vocabulary file, when --model starts without a checkpoint")
    g.add_argument("--spm-model", help="SentencePiece model, with --tokenizer sentencepiece")
    g.add_argument("--tokenizer", default="wordpiece", help="tokenizer kind with --vocab (default wordpiece)")
    g.add_argument("--freeze", action="store_true", help="train only the head (encoder frozen)")
    g.add_argument("--pooling", default="auto", metavar="{" + ",".join(POOLING_CHOICES) + "}",
                   help="how a sentence vector is read off the encoder (auto: what the encoder "
                   "declares: first for transformers, last for causal ones, mean for recurrent and "
                   "convolutional encoders)")
    g.add_argument("--crf", action="store_true", help="tag task: CRF output layer")
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=3)
    g.add_argument("--batch-size", type=int, default=32,
                   help="rows per micro-batch, shared by all workers (default 32)")
    g.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimiser step")
    g.add_argument("--lr", type=float, help="peak learning rate (default: what the encoder "
                   "declares: 2e-5 for a pre-trained transformer, 1e-4 for a fresh one, 1e-3 for "
                   "other encoders)")
    g.add_argument("--warmup", type=float, default=0.1, help="fraction of steps to warm up")
    g.add_argument("--weight-decay", type=float, default=0.01)
    g.add_argument("--seq-length", type=int, default=128)
    g.add_argument("--patience", type=int, default=0,
                   help="stop after this many epochs without a better dev score (0: never)")
    g.add_argument("--seed", type=int, default=7)
    g = p.add_argument_group("where it runs")
    g.add_argument("--device", default="auto",
                   help="auto (the GPU when there is one), cpu, cuda or cuda:N")
    g.add_argument("--no-bf16", dest="bf16", action="store_false", help="float32 on GPU too")
    g.add_argument("--workers", type=int, default=0, help="Ray Train workers, DDP (0: in this process)")
    g.add_argument("--cpus-per-worker", type=float, help="CPUs reserved per Ray worker (default: auto)")
    g.add_argument("--address", help="Ray cluster to attach to (default: an embedded one)")
    g.add_argument("--quiet", dest="progress", action="store_false", help="no progress bars")
    g = p.add_argument_group("model zoo")
    g.add_argument("--publish", nargs="?", const="", metavar="NAME",
                   help="publish the fine-tuned model when done (NAME, default derived)")
    g.add_argument("--zoo", help="zoo for zoo: references and --publish (default UER_RAY_ZOO, "
                   "else ~/.cache/uer_ray/zoo)")
    g = p.add_argument_group("W&B (offline files under OUT/wandb unless configured)")
    g.add_argument("--wandb-project", default="uer_ray")
    g.add_argument("--wandb-group", help="default: finetune-TASK")
    g.add_argument("--wandb-name", help="default: TASK/embedding/encoder (+pretrained)")
    g.add_argument("--wandb-mode", choices=["offline", "online", "disabled"],
                   help="default: WANDB_MODE, else offline")


def options_from_args(args: argparse.Namespace):
    from uer_ray.train.finetune import FinetuneOptions

    fields = FinetuneOptions.__dataclass_fields__
    return FinetuneOptions(**{k: v for k, v in vars(args).items() if k in fields})


def run(args: argparse.Namespace) -> int:
    from uer_ray.train.finetune import finetune
    from uer_ray.train.finetune_record import summary_paragraph

    record = finetune(options_from_args(args))
    print(summary_paragraph(record))
    return 0
