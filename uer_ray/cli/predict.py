"""``run.py predict``: arguments -> ``PredictOptions`` -> ``uer_ray.train.predict.predict``:
run a fine-tuned model (a ``finetune --out`` folder) over a TSV file (see that module)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="a fine-tuned model: a finetune --out folder, "
                   "zoo:NAME[@VERSION|@ALIAS] or a URI")
    p.add_argument("--zoo", help="zoo for a zoo: --model (default UER_RAY_ZOO)")
    p.add_argument("--input", required=True, help="TSV with a header row naming the columns")
    p.add_argument("--out", required=True, help="where to write the predictions (TSV)")
    p.add_argument("--probs", action="store_true", help="add class probabilities (classify, pair)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto", help="auto (the GPU when there is one), cpu, cuda or cuda:N")
    p.add_argument("--no-bf16", dest="bf16", action="store_false", help="float32 on GPU too")
    p.add_argument("--quiet", dest="progress", action="store_false", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from uer_ray.train.predict import PredictOptions, predict, summary_paragraph

    fields = PredictOptions.__dataclass_fields__
    print(summary_paragraph(predict(PredictOptions(**{k: v for k, v in vars(args).items() if k in fields}))))
    return 0
