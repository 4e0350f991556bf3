"""``run.py predict``: run a fine-tuned model (a ``finetune --out`` folder) over a TSV file.

The input has the training file's text columns (a ``label`` column may be present and is then
ignored); the output is a TSV with a header: the predicted ``label`` (plus ``prob_<label>``
columns with ``--probs``) for classify and pair, ``qid``/``label``/``score`` for dbqa, the tag
sequence for tag, the predicted ``score`` for regress. Rows stay in input order.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from uer_ray.atomic import atomic_file
from uer_ray.tasks.checkpoint import load_finetuned
from uer_ray.tasks.loop import predict


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="a fine-tuned model folder (finetune --out)")
    p.add_argument("--input", required=True, help="TSV with a header row naming the columns")
    p.add_argument("--out", required=True, help="where to write the predictions (TSV)")
    p.add_argument("--probs", action="store_true", help="add class probabilities (classify, pair)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    torch.set_flush_denormal(True)
    start = time.perf_counter()
    ft, task, labels, settings, tokenizer = load_finetuned(args.model)
    rows = task.read(args.input, labelled=False)
    # A label column in the input is not needed (and may hold labels unseen in training).
    rows = [type(r)(r.line, {k: v for k, v in r.cells.items() if k != "label"}) for r in rows]
    examples = task.encode(rows, args.input, tokenizer, labels, settings.seq_length)
    preds = predict(ft, ft.head, task, examples, batch_size=args.batch_size,
                    pad_id=tokenizer.pad_id, progress=not args.quiet)
    with atomic_file(args.out) as f:
        f.write("\t".join(task.output_header(labels, args.probs)) + "\n")
        for example, pred in zip(examples, preds, strict=True):
            f.write("\t".join(task.output_row(example, pred, labels, args.probs)) + "\n")
    seconds = time.perf_counter() - start
    print(
        f"Predicted {len(examples):,} rows of {args.input} with the {settings.task} model in "
        f"{args.model} ({seconds:.1f} s, {len(examples) / max(seconds, 1e-9):.0f} rows/s); "
        f"wrote {Path(args.out)}."
    )
    return 0
