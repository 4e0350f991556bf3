"""Benchmark: the ``lstm`` preset on Douban book review, from scratch and with stage-2
pre-training on the review texts (UER paper Table 5: a 2-layer LSTM reaches 80.3% without
pre-training and 86.5% with it).

    .venv/bin/python bench/finetune_book_review.py [--stages vocab,scratch,preprocess,pretrain,pretrained]

Each stage runs the real command (printed before it runs) and is skipped when its output is
already complete, so an interrupted benchmark resumes. The run ends with a table of commands,
dev/test accuracy and seconds per epoch, also written to ``OUT/bench.json``.

The vocabulary is a character vocabulary of the training texts (a small output layer keeps
pre-training affordable on a CPU); both runs use it, so they differ only in the initial weights.
The pre-training corpus is ``corpora/book_review_cls.txt`` — the training set's texts (its label
column is dropped), never the dev or test sets.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from uer_ray.cli import main  # noqa: E402

DATA = REPO.parent / "shared" / "data"
STAGES = ("vocab", "scratch", "preprocess", "pretrain", "pretrained")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", default=str(REPO / "runs" / "bench_book_review"))
    p.add_argument("--stages", default=",".join(STAGES))
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seq-length", type=int, default=128)
    p.add_argument("--pretrain-steps", type=int, default=600)
    p.add_argument("--pretrain-target", default="lm", choices=("lm", "mlm"))
    p.add_argument("--workers", type=int, default=2, help="pre-training workers")
    p.add_argument("--vocab-size", type=int, default=8000)
    return p.parse_args()


def run(title: str, argv: list, done: Path | None, log: dict) -> None:
    argv = [str(a) for a in argv]
    command = "python run.py " + " ".join(shlex.quote(a) for a in argv)
    log.setdefault("commands", {})[title] = command
    if done is not None and done.exists():
        print(f"== {title}: already done ({done})", flush=True)
        return
    print(f"\n== {title}\n$ {command}", flush=True)
    start = time.perf_counter()
    if main(argv) != 0:
        raise SystemExit(f"stage {title} failed")
    log.setdefault("seconds", {})[title] = round(time.perf_counter() - start, 1)


def main_bench() -> None:
    args = parse_args()
    stages = set(args.stages.split(","))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ds = DATA / "datasets" / "book_review"
    corpus_cls = DATA / "corpora" / "book_review_cls.txt"
    texts = out / "corpus.txt"
    if not texts.exists():  # one review per line (the cls corpus without its labels)
        lines = corpus_cls.read_text(encoding="utf-8").splitlines()
        texts.write_text(
            "\n".join(ln.split("\t", 1)[1] for ln in lines if "\t" in ln) + "\n", encoding="utf-8"
        )
    vocab = out / "vocab.txt"
    log: dict = {"settings": vars(args)}
    ft = [
        "finetune",
        "--task",
        "classify",
        "--train",
        ds / "train.tsv",
        "--dev",
        ds / "dev.tsv",
        "--test",
        ds / "test.tsv",
        "--epochs",
        args.epochs,
        "--batch-size",
        args.batch_size,
        "--lr",
        args.lr,
        "--seq-length",
        args.seq_length,
        "--pooling",
        "mean",
    ]
    plan = [
        (
            "vocab",
            [
                "vocab",
                "--corpus",
                texts,
                "--tokenizer",
                "char",
                "--size",
                args.vocab_size,
                "--out",
                vocab,
            ],
            vocab,
        ),
        (
            "scratch",
            [
                *ft,
                "--model",
                "lstm",
                "--vocab",
                vocab,
                "--tokenizer",
                "char",
                "--out",
                out / "scratch",
            ],
            out / "scratch" / "metrics.json",
        ),
        (
            "preprocess",
            [
                "preprocess",
                "--corpus",
                texts,
                "--processor",
                args.pretrain_target,
                "--tokenizer",
                "char",
                "--vocab",
                vocab,
                "--seq-length",
                args.seq_length,
                "--out",
                out / "shards",
            ],
            out / "shards" / "manifest.json",
        ),
        (
            "pretrain",
            [
                "pretrain",
                "--model",
                "lstm",
                "--targets",
                f"{args.pretrain_target}:1",
                "--data",
                out / "shards",
                "--vocab",
                vocab,
                "--out",
                out / "pretrain",
                "--workers",
                args.workers,
                "--steps",
                args.pretrain_steps,
                "--batch-size",
                32,
                "--lr",
                1e-3,
                "--overwrite",
            ],
            out / "pretrain" / "final" / "config.json",
        ),
        (
            "pretrained",
            [*ft, "--init", out / "pretrain" / "final", "--out", out / "pretrained"],
            out / "pretrained" / "metrics.json",
        ),
    ]
    for title, argv, done in plan:
        if title in stages:
            run(title, argv, done, log)
        else:
            log.setdefault("commands", {})[title] = "python run.py " + " ".join(
                shlex.quote(str(a)) for a in argv
            )
    report(out, log)


def report(out: Path, log: dict) -> None:
    rows = []
    for name in ("scratch", "pretrained"):
        f = out / name / "metrics.json"
        if f.exists():
            m = json.loads(f.read_text(encoding="utf-8"))
            rows.append(
                (
                    name,
                    m["dev"]["accuracy"],
                    m["test"]["accuracy"],
                    m["seconds_per_epoch"],
                    m["epochs_run"],
                    log.get("commands", {}).get(name, ""),
                )
            )
    log["results"] = {
        r[0]: {
            "dev_accuracy": r[1],
            "test_accuracy": r[2],
            "seconds_per_epoch": r[3],
            "epochs": r[4],
        }
        for r in rows
    }
    (out / "bench.json").write_text(json.dumps(log, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\n{'run':12} {'dev acc':>8} {'test acc':>9} {'s/epoch':>8} {'epochs':>6}")
    for name, dev, test, spe, ep, _ in rows:
        print(f"{name:12} {dev:8.4f} {test:9.4f} {spe:8.1f} {ep:6d}")
    print("\ncommands:")
    for title, command in log.get("commands", {}).items():
        print(f"  [{title}] {command}")


if __name__ == "__main__":
    main_bench()
