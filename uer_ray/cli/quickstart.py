"""``run.py quickstart``: the whole loop on the sample data bundled in ``uer_ray/samples``.

It chains the library stages in Python (each step prints the command that does the same from
a shell): build a character vocabulary, preprocess the in-domain corpus into shards, pre-train
a tiny BERT on 2 Ray Train workers (stage 2 of the UER paper's three stages: pre-training on downstream-domain text),
fine-tune the same architecture twice — from scratch and from the pre-trained weights — predict
with the better one, and print a table comparing "no pre-training" with "with pre-training".
W&B runs offline (files only) unless WANDB_MODE says otherwise. ``--quick`` shrinks every stage
(for the test suite); the numbers it prints then mean little.
"""

from __future__ import annotations

import argparse
import os
import time
from importlib.resources import files
from pathlib import Path

from uer_ray.atomic import write_json

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


def _step(title: str, command: list, timings: dict, call, describe=None):
    """Run one stage (``call()``), showing the equivalent command line and timing it; print
    ``describe(result)`` after it (the paragraph the command would end with)."""
    print(f"\n== {title}\n$ python run.py {' '.join(str(a) for a in command)}", flush=True)
    start = time.perf_counter()
    result = call()
    timings[title] = round(time.perf_counter() - start, 1)
    if describe is not None:
        print(describe(result), flush=True)
    return result


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
        records = _stages(args, size, out, corpus, train, dev, test, vocab, timings)
    finally:
        if started:
            import ray

            ray.shutdown()
    report = {"quick": args.quick, "model": MODEL, "sizes": size, "seconds": timings,
              "total_seconds": round(time.perf_counter() - total, 1),
              "results": {k: {"dev_accuracy": r["results"]["dev"]["accuracy"],
                              "test_accuracy": r["results"]["test"]["accuracy"],
                              "seconds_per_epoch": r["results"]["seconds_per_epoch"]}
                          for k, r in records.items()}}
    write_json(out / "quickstart.json", report)
    print("\n" + table(report))
    return 0


def _stages(args, size: dict, out: Path, corpus: Path, train: Path, dev: Path, test: Path,
            vocab: Path, timings: dict) -> dict:
    """vocab -> preprocess -> pretrain -> finetune twice -> predict; the two fine-tuning
    records by name."""
    import uer_ray
    from uer_ray.data import ProcessorConfig, preprocess
    from uer_ray.tokenizers import build_tokenizer, build_vocab
    from uer_ray.train.finetune import summary_paragraph as finetune_summary
    from uer_ray.train.predict import summary_paragraph as predict_summary
    from uer_ray.train.pretrain import summary_paragraph as pretrain_summary

    _step("vocabulary", ["vocab", "--corpus", corpus, train, "--tokenizer", "char", "--size",
                         size["vocab"], "--out", vocab], timings,
          lambda: build_vocab([corpus, train], "char", size["vocab"], vocab))
    tokenizer = build_tokenizer("char", vocab=str(vocab))
    shards = out / "shards"
    _step("preprocess", ["preprocess", "--corpus", corpus, "--processor", "mlm", "--tokenizer",
                         "char", "--vocab", vocab, "--seq-length", SEQ_LENGTH, "--out", shards],
          timings, lambda: preprocess([corpus], shards, processor="mlm", tokenizer=tokenizer,
                                      config=ProcessorConfig(seq_length=SEQ_LENGTH),
                                      progress=False))
    steps = size["steps"]
    pre = uer_ray.PretrainOptions(
        model=MODEL, targets={"mlm": 1.0}, data=str(shards), vocab=str(vocab),
        out=str(out / "pretrain"), workers=args.workers, steps=steps,
        batch_size=size["pretrain_batch"], lr=1e-3, log_every=max(1, steps // 10),
        save_every=steps, overwrite=True, address=args.address)
    pretrained = _step("pre-train", ["pretrain", "--model", MODEL, "--targets", "mlm:1", "--data",
                                     shards, "--vocab", vocab, "--out", pre.out, "--workers",
                                     args.workers, "--steps", steps, "--lr", "1e-3"],
                       timings, lambda: uer_ray.pretrain(pre), describe=pretrain_summary)
    common = dict(task="classify", train=str(train), dev=str(dev), test=str(test),
                  dataset="book_review", epochs=size["epochs"], batch_size=32,
                  seq_length=SEQ_LENGTH, lr=1e-4, progress=False)
    shown = ["finetune", "--task", "classify", "--train", train, "--dev", dev, "--test", test,
             "--epochs", size["epochs"], "--lr", "1e-4"]
    records = {}
    for name, start, extra in (
        ("no pre-training", dict(model=MODEL, vocab=str(vocab), tokenizer="char"),
         ["--model", MODEL, "--vocab", vocab, "--tokenizer", "char"]),
        ("with pre-training", dict(init=pretrained["checkpoint"]),
         ["--init", pretrained["checkpoint"]]),
    ):
        folder = out / ("finetune-scratch" if "no" in name else "finetune-pretrained")
        options = uer_ray.FinetuneOptions(**common, **start, out=str(folder))
        records[name] = _step(f"fine-tune {'without' if 'no' in name else 'with'} pre-training",
                              [*shown, *extra, "--out", folder], timings,
                              lambda o=options: uer_ray.finetune(o), describe=finetune_summary)
    prediction = uer_ray.PredictOptions(model=str(out / "finetune-pretrained"), input=str(test),
                                        out=str(out / "predictions.tsv"), probs=True,
                                        progress=False)
    _step("predict", ["predict", "--model", prediction.model, "--input", test, "--out",
                      prediction.out, "--probs"], timings, lambda: uer_ray.predict(prediction),
          describe=predict_summary)
    return records


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
