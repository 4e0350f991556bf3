"""Benchmark: the ``lstm`` preset on Douban book review, from scratch and with stage-2
pre-training on the review texts (UER paper Table 5: a 2-layer LSTM reaches 80.3% without
pre-training and 86.5% with it).

    .venv/bin/python bench/finetune_book_review.py [--stages vocab,scratch,preprocess,pretrain,pretrained]

Each stage calls the library stage (``uer_ray.finetune``, ``uer_ray.pretrain``, ...; the
equivalent command is printed before it runs) and is skipped when its output is already
complete, so an interrupted benchmark resumes. The run ends with a table of commands,
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

import uer_ray  # noqa: E402
from uer_ray.data import ProcessorConfig, preprocess  # noqa: E402
from uer_ray.tokenizers import build_tokenizer, build_vocab  # noqa: E402

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
    p.add_argument("--device", default="auto", help="fine-tuning device (auto, cpu, cuda)")
    return p.parse_args()


def run(title: str, command: str, call, done: Path, log: dict, stages: set) -> None:
    """Run one stage unless it is skipped or its output is already complete."""
    log.setdefault("commands", {})[title] = command
    if title not in stages:
        return
    if done.exists():
        print(f"== {title}: already done ({done})", flush=True)
        return
    print(f"\n== {title}\n$ {command}", flush=True)
    start = time.perf_counter()
    call()
    log.setdefault("seconds", {})[title] = round(time.perf_counter() - start, 1)


def shell(*argv) -> str:
    return "python run.py " + " ".join(shlex.quote(str(a)) for a in argv)


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
    finetune = dict(task="classify", train=str(ds / "train.tsv"), dev=str(ds / "dev.tsv"),
                    test=str(ds / "test.tsv"), epochs=args.epochs, batch_size=args.batch_size,
                    lr=args.lr, seq_length=args.seq_length, pooling="mean", device=args.device)
    ft_flags = ["finetune", "--task", "classify", "--train", ds / "train.tsv", "--dev",
                ds / "dev.tsv", "--test", ds / "test.tsv", "--epochs", args.epochs,
                "--batch-size", args.batch_size, "--lr", args.lr, "--seq-length",
                args.seq_length, "--pooling", "mean", "--device", args.device]
    run("vocab", shell("vocab", "--corpus", texts, "--tokenizer", "char", "--size",
                       args.vocab_size, "--out", vocab),
        lambda: build_vocab([texts], "char", args.vocab_size, vocab), vocab, log, stages)
    scratch = uer_ray.FinetuneOptions(**finetune, model="lstm", vocab=str(vocab), tokenizer="char",
                                      out=str(out / "scratch"))
    run("scratch", shell(*ft_flags, "--model", "lstm", "--vocab", vocab, "--tokenizer", "char",
                         "--out", scratch.out),
        lambda: uer_ray.finetune(scratch), out / "scratch" / "metrics.json", log, stages)
    shards = out / "shards"
    run("preprocess", shell("preprocess", "--corpus", texts, "--processor", args.pretrain_target,
                            "--tokenizer", "char", "--vocab", vocab, "--seq-length",
                            args.seq_length, "--out", shards),
        lambda: preprocess([texts], shards, processor=args.pretrain_target,
                           tokenizer=build_tokenizer("char", vocab=str(vocab)),
                           config=ProcessorConfig(seq_length=args.seq_length)),
        shards / "manifest.json", log, stages)
    pre = uer_ray.PretrainOptions(model="lstm", targets={args.pretrain_target: 1.0},
                                  data=str(shards), vocab=str(vocab), out=str(out / "pretrain"),
                                  workers=args.workers, steps=args.pretrain_steps, batch_size=32,
                                  lr=1e-3, overwrite=True)
    run("pretrain", shell("pretrain", "--model", "lstm", "--targets", f"{args.pretrain_target}:1",
                          "--data", shards, "--vocab", vocab, "--out", pre.out, "--workers",
                          args.workers, "--steps", args.pretrain_steps, "--batch-size", 32,
                          "--lr", 1e-3, "--overwrite"),
        lambda: uer_ray.pretrain(pre), out / "pretrain" / "final" / "config.json", log, stages)
    pretrained = uer_ray.FinetuneOptions(**finetune, init=str(out / "pretrain" / "final"),
                                         out=str(out / "pretrained"))
    run("pretrained", shell(*ft_flags, "--init", pretrained.init, "--out", pretrained.out),
        lambda: uer_ray.finetune(pretrained), out / "pretrained" / "metrics.json", log, stages)
    report(out, log)


def report(out: Path, log: dict) -> None:
    rows = []
    for name in ("scratch", "pretrained"):
        f = out / name / "metrics.json"
        if f.exists():
            r = json.loads(f.read_text(encoding="utf-8"))["results"]
            rows.append((name, r["dev"]["accuracy"], r["test"]["accuracy"],
                         r["seconds_per_epoch"], r["epochs_run"]))
    log["results"] = {
        r[0]: {"dev_accuracy": r[1], "test_accuracy": r[2], "seconds_per_epoch": r[3],
               "epochs": r[4]}
        for r in rows
    }
    (out / "bench.json").write_text(json.dumps(log, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\n{'run':12} {'dev acc':>8} {'test acc':>9} {'s/epoch':>8} {'epochs':>6}")
    for name, dev, test, spe, ep in rows:
        print(f"{name:12} {dev:8.4f} {test:9.4f} {spe:8.1f} {ep:6d}")
    print("\ncommands:")
    for title, command in log.get("commands", {}).items():
        print(f"  [{title}] {command}")


if __name__ == "__main__":
    main_bench()
