"""``run.py finetune``: arguments -> ``FinetuneOptions`` -> ``uer_ray.train.finetune.finetune``.

Fine-tune a pre-trained (``--init``) or fresh (``--model``) model on a downstream task (UER
paper §3.3-3.4), keep the best model on dev, report test metrics. ``--workers 0`` (the default)
trains in this process; ``--workers N`` runs N data-parallel Ray Train workers (DDP).
"""

from __future__ import annotations

import argparse

from uer_ray.cli.options import OptionFlags, options_from
from uer_ray.cluster import ADDRESS_HELP
from uer_ray.train.finetune import POOLING_CHOICES, FinetuneOptions


def add_arguments(p: argparse.ArgumentParser) -> None:
    add = OptionFlags(FinetuneOptions).add
    g = p.add_argument_group("task and data")
    add(g, "--task", required=True, help="classify, pair, tag, dbqa, regress, text2text, mrc, choice or a task "
        "of your own "
        "(docs/finetune.md, docs/extending.md)")
    add(g, "--train", required=True, help="training TSV (header row names the columns)")
    add(g, "--dev", required=True, help="dev TSV: picks the best epoch, drives early stopping")
    add(g, "--test", help="test TSV, evaluated once with the best model")
    add(g, "--dataset", help="dataset name for records and the zoo (default: the training file's "
        "folder name)")
    add(g, "--out", required=True, help="output folder: the fine-tuned model and metrics")
    g = p.add_argument_group("model")
    add(g, "--init", help="checkpoint to start from: a folder, zoo:NAME[@VERSION|@ALIAS] or a URI "
        "(s3://...)")
    add(g, "--model", help="preset name or JSON config (from scratch, or shaped for --init)")
    add(g, "--vocab", help="vocabulary file, when --model starts without a checkpoint")
    add(g, "--spm-model", help="SentencePiece model, with --tokenizer sentencepiece")
    add(g, "--tokenizer", help="tokenizer kind with --vocab")
    add(g, "--freeze", action="store_true", help="train only the head (encoder frozen)")
    add(g, "--pooling", metavar="{" + ",".join(POOLING_CHOICES) + "}",
        help="how a sentence vector is read off the encoder (auto: what the encoder declares: "
        "first for transformers, last for causal ones, mean for recurrent and convolutional "
        "encoders)")
    add(g, "--crf", action="store_true", help="tag task: CRF output layer")
    add(g, "--metric", help="the dev metric that picks the best epoch (default: the task's; "
        "text2text: bleu, rouge_l or exact_match)")
    g = p.add_argument_group("text2text (dev and test generate)")
    add(g, "--beams", type=int, help="beam search with this many beams (1: greedy)")
    add(g, "--tgt-seq-length", type=int, help="target tokens with [CLS] and [SEP] (longer labels "
        "are cut); generation writes at most this many minus one")
    g = p.add_argument_group("mrc (reading comprehension)")
    add(g, "--doc-stride", type=int, help="context tokens between the starts of two windows of "
        "a long context")
    add(g, "--max-query-length", type=int, help="question tokens kept")
    add(g, "--n-best", type=int, help="highest start and end logits per window that answers "
        "are formed from")
    add(g, "--max-answer-length", type=int, help="longest answer, in tokens")
    g = p.add_argument_group("multi_label and siamese")
    add(g, "--threshold", type=float, help="multi_label: predict a label when its probability "
        "reaches this (default: the threshold that maximises micro F1 on dev)")
    add(g, "--tower", choices=["shared", "separate"], help="siamese: one encoder for both texts, "
        "or a copy of it for text_b")
    add(g, "--siamese-objective", choices=["classify", "cosine", "simcse"],
        help="siamese: softmax over [u, v, |u-v|]; cos(u, v) regressed on the label; or "
        "unsupervised SimCSE on text_a (dev: scored pairs)")
    add(g, "--temperature", type=float, help="siamese simcse: InfoNCE temperature")
    g = p.add_argument_group("optimisation")
    add(g, "--epochs", type=int)
    add(g, "--batch-size", type=int, help="rows per micro-batch, shared by all workers")
    add(g, "--grad-accum", type=int, help="micro-batches per optimiser step")
    add(g, "--lr", type=float, help="peak learning rate (default: what the encoder declares: 2e-5 "
        "for a pre-trained transformer, 1e-4 for a fresh one, 1e-3 for other encoders)")
    add(g, "--warmup", type=float, help="fraction of steps to warm up")
    add(g, "--weight-decay", type=float)
    add(g, "--adam-bias-correction", action="store_true",
        help="bias-correct Adam's moments as torch's AdamW does (default: BERT's and UER-py's "
        "update, without correction: larger first steps)")
    add(g, "--seq-length", type=int)
    add(g, "--patience", type=int,
        help="stop after this many epochs without a better dev score (0: never)")
    add(g, "--seed", type=int)
    g = p.add_argument_group("where it runs")
    add(g, "--device", help="auto (the GPU when there is one), cpu, cuda or cuda:N")
    add(g, "--no-bf16", dest="bf16", action="store_false", help="float32 on GPU too")
    add(g, "--workers", type=int, help="Ray Train workers, DDP (0: in this process)")
    add(g, "--cpus-per-worker", type=float, help="CPUs reserved per Ray worker (default: auto)")
    add(g, "--address", help=ADDRESS_HELP)
    add(g, "--quiet", dest="progress", action="store_false", help="no progress bars")
    g = p.add_argument_group("model zoo")
    add(g, "--publish", nargs="?", const="", metavar="NAME",
        help="publish the fine-tuned model when done (NAME, default derived)")
    add(g, "--zoo", help="zoo for zoo: references and --publish (default UER_RAY_ZOO, else "
        "~/.cache/uer_ray/zoo)")
    g = p.add_argument_group("W&B (offline files under OUT/wandb unless configured)")
    add(g, "--wandb-project")
    add(g, "--wandb-group", help="default: finetune-TASK")
    add(g, "--wandb-name", help="default: TASK/embedding/encoder (+pretrained)")
    add(g, "--wandb-mode", choices=["offline", "online", "disabled"],
        help="default: WANDB_MODE, else offline")


def run(args: argparse.Namespace) -> int:
    from uer_ray.train.finetune import finetune
    from uer_ray.train.finetune_record import summary_paragraph

    record = finetune(options_from(FinetuneOptions, args))
    print(summary_paragraph(record))
    return 0
