"""``run.py quickstart``: the whole loop on the sample data bundled in ``uer_ray/samples``.

It runs the real commands one after the other, as a user would type them: build a character
vocabulary, preprocess the in-domain corpus into shards, pre-train a tiny BERT on 2 Ray Train
workers (stage 2 of the UER paper's three stages: pre-training on downstream-domain text),
fine-tune the same architecture twice — from scratch and from the pre-trained weights — predict
with the better one, and print a table comparing "no pre-training" with "with pre-training".
W&B runs offline (files only) unless WANDB_MODE says otherwise. ``--quick`` shrinks every stage
(for the test suite); the numbers it prints then mean little.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from importlib.resources import files
from pathlib import Path

from uer_ray.atomic import write_json
from uer_ray.errors import UerRayError

# (full, --quick) sizes of each stage
SIZES = {
    "vocab": (6000, 3000),
    "corpus_lines": (None, 4000),
    "steps": (800, 20),
    "pretrain_batch": (32, 16),
    "train_rows": (None, 300),
    "epochs": (4, 1),
}
MODEL = "bert-tiny"
SEQ_LENGTH = 128


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/quickstart", help="work folder (default runs/quickstart)")
    p.add_argument("--quick", action="store_true", help="a much shorter run (for tests)")
    p.add_argument("--workers", type=int, default=2, help="Ray Train workers for pre-training")
    p.add_argument("--address", help="Ray cluster to attach to (default: an embedded one)")


def sample_dir() -> Path:
    return Path(str(files("uer_ray") / "samples" / "book_review"))


def _head(src: Path, dst: Path, lines: int | None, header: bool) -> Path:
    """Copy ``src`` to ``dst``, keeping only its first ``lines`` data lines (all when None)."""
    text = src.read_text(encoding="utf-8").rstrip("\n").split("\n")
    keep = text if lines is None else text[: lines + (1 if header else 0)]
    dst.write_text("\n".join(keep) + "\n", encoding="utf-8")
    return dst


def _step(title: str, argv: list, timings: dict) -> None:
    """Run one command through the CLI dispatcher (exactly what `run.py ...` does)."""
    from uer_ray.cli import main

    argv = [str(a) for a in argv]
    print(f"\n== {title}\n$ python run.py {' '.join(argv)}", flush=True)
    start = time.perf_counter()
    rc = main(argv)
    timings[title] = round(time.perf_counter() - start, 1)
    if rc != 0:
        raise UerRayError(f"quickstart: step '{title}' failed (exit status {rc})")


def _final_checkpoint(pretrain_out: Path) -> Path:
    """The plain checkpoint folder that pretrain leaves in its --out."""
    for cand in (pretrain_out / "final", pretrain_out):
        if (cand / "config.json").exists():
            return cand
    raise UerRayError(f"quickstart: no checkpoint found in {pretrain_out}")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from uer_ray.cluster import ensure_ray

    size = {k: v[1 if args.quick else 0] for k, v in SIZES.items()}
    out = Path(args.out).absolute()
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    src = sample_dir()
    corpus = _head(src / "corpus.txt", data / "corpus.txt", size["corpus_lines"], header=False)
    train = _head(src / "train.tsv", data / "train.tsv", size["train_rows"], header=True)
    dev, test = src / "dev.tsv", src / "test.tsv"
    vocab = out / "vocab.txt"
    timings: dict[str, float] = {}
    started = ensure_ray(args.address)  # one Ray session for every step
    total = time.perf_counter()
    try:
        _step("vocabulary", ["vocab", "--corpus", corpus, train, "--tokenizer", "char",
                             "--size", size["vocab"], "--out", vocab], timings)
        _step("preprocess", ["preprocess", "--corpus", corpus, "--processor", "mlm", "--tokenizer",
                             "char", "--vocab", vocab, "--seq-length", SEQ_LENGTH,
                             "--out", out / "shards", "--no-progress"], timings)
        _step("pre-train", ["pretrain", "--model", MODEL, "--targets", "mlm:1", "--data",
                            out / "shards", "--vocab", vocab, "--out", out / "pretrain",
                            "--workers", args.workers,
                            "--steps", size["steps"], "--batch-size", size["pretrain_batch"],
                            "--lr", "1e-3",
                            "--log-every", max(1, size["steps"] // 10), "--overwrite",
                            "--save-every", size["steps"]], timings)
        common = ["finetune", "--task", "classify", "--train", train, "--dev", dev, "--test", test,
                  "--epochs", size["epochs"], "--batch-size", 32, "--seq-length", SEQ_LENGTH,
                  "--quiet"]
        scratch, pretrained = out / "finetune-scratch", out / "finetune-pretrained"
        _step("fine-tune without pre-training", [*common, "--model", MODEL, "--vocab", vocab,
                                                 "--tokenizer", "char", "--lr", "1e-4",
                                                 "--out", scratch], timings)
        _step("fine-tune with pre-training", [*common, "--init", _final_checkpoint(out / "pretrain"),
                                              "--lr", "1e-4", "--out", pretrained], timings)
        _step("predict", ["predict", "--model", pretrained, "--input", test, "--out",
                          out / "predictions.tsv", "--probs", "--quiet"], timings)
    finally:
        if started:
            import ray

            ray.shutdown()
    rows = {name: json.loads((d / "metrics.json").read_text(encoding="utf-8"))
            for name, d in (("no pre-training", scratch), ("with pre-training", pretrained))}
    report = {"quick": args.quick, "model": MODEL, "sizes": size, "seconds": timings,
              "total_seconds": round(time.perf_counter() - total, 1),
              "results": {k: {"dev_accuracy": m["dev"]["accuracy"],
                              "test_accuracy": m["test"]["accuracy"],
                              "seconds_per_epoch": m["seconds_per_epoch"]} for k, m in rows.items()}}
    write_json(out / "quickstart.json", report)
    print("\n" + table(report))
    return 0


def table(report: dict) -> str:
    """The comparison table and a one-paragraph summary."""
    res = report["results"]
    lines = [f"{'':20} {'dev acc':>8} {'test acc':>9} {'s/epoch':>8}"]
    for name, r in res.items():
        lines.append(f"{name:20} {r['dev_accuracy']:8.4f} {r['test_accuracy']:9.4f} "
                     f"{r['seconds_per_epoch']:8.1f}")
    gain = res["with pre-training"]["test_accuracy"] - res["no pre-training"]["test_accuracy"]
    lines.append(
        f"\nQuickstart{' (--quick: shortened, numbers are not meaningful)' if report['quick'] else ''}"
        f" finished in {report['total_seconds']:.0f} s: a {report['model']} pre-trained for "
        f"{report['sizes']['steps']} steps on in-domain book reviews changes test accuracy by "
        f"{gain:+.4f} over the same model trained from scratch. Step times (s): "
        + ", ".join(f"{k} {v}" for k, v in report["seconds"].items()) + "."
    )
    return "\n".join(lines)
