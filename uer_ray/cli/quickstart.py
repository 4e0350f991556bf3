"""``run.py quickstart``: the platform's loop in small, on the sample data bundled in
``uer_ray/samples`` (Douban book reviews).

A search (``uer_ray.tune``) over two encoders — a BERT-tiny transformer and a small LSTM — each
fine-tuned from scratch and after stage-2 pre-training on the in-domain review corpus (MLM for
the transformer, LM for the LSTM, on Ray Train); the leaderboard; every configuration scored on
the test file, with the 95% interval that says how large a difference 1,000 test rows can
resolve; the winner published to a model zoo (``OUT/zoo`` unless ``--zoo``) and used for
prediction through its ``zoo:`` reference. W&B runs offline (files only) unless WANDB_MODE says
otherwise. ``--quick`` shrinks every stage (for the test suite); its numbers mean little.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from importlib.resources import files
from pathlib import Path

from uer_ray.atomic import write_json

# (full, --quick) sizes
SIZES = {
    "train_rows": (2000, 300),
    "dev_rows": (500, 200),
    "corpus_rows": (8000, 1000),
    "stage2_steps": (200, 12),
    "epochs": (3, 1),
}
SEQ_LENGTH = 128
LSTM = {"embedding": ["word"], "encoder": "lstm", "targets": {"lm": 1.0}, "emb_size": 128,
        "hidden_size": 128, "layers": 1, "max_seq_length": 512, "dropout": 0.1,
        "embedding_options": {"layernorm": False, "init_std": 1.0}}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/quickstart", help="work folder (default runs/quickstart)")
    p.add_argument("--quick", action="store_true", help="a much shorter run (for tests)")
    p.add_argument("--zoo", help="the zoo to publish the winner into (default OUT/zoo)")
    p.add_argument("--address", help="Ray cluster to attach to (default: an embedded one)")


def sample_dir() -> Path:
    return Path(str(files("uer_ray") / "samples" / "book_review"))


def space(quick: bool) -> dict:
    """The quickstart's search space: 2 encoders x {no stage 2, stage 2}, a grid of 4."""
    size = {k: v[1 if quick else 0] for k, v in SIZES.items()}
    src = sample_dir()
    return {
        "name": "quickstart",
        "description": "BERT-tiny and an LSTM, with and without stage-2 pre-training",
        "task": "classify",
        "dataset": "book_review",
        "data": {"train": str(src / "train.tsv"), "dev": str(src / "dev.tsv"),
                 "test": str(src / "test.tsv"),
                 "rows": {"train": size["train_rows"], "dev": size["dev_rows"]}},
        "vocabulary": {"tokenizer": "char", "size": 3000 if quick else 6000},
        "stage2": {"corpus": str(src / "corpus.txt"), "format": "text",
                   "rows": size["corpus_rows"], "seq_length": SEQ_LENGTH,
                   "steps": size["stage2_steps"], "batch_size": 32, "lr": 1e-3, "workers": 1},
        "encoders": {
            "transformer": {"model": "bert-tiny", "lr": 1e-4, "targets": ["none", "mlm"]},
            "lstm": {"model": dict(LSTM), "lr": 1e-3, "targets": ["none", "lm"]},
        },
        "targets": {"mlm": {"mlm": 1.0}, "lm": {"lm": 1.0}},
        "finetune": {"epochs": size["epochs"], "batch_size": 32, "seq_length": SEQ_LENGTH},
        "budget": {"searcher": "grid", "scheduler": "fifo", "max_concurrent": 2, "publish_top": 1},
    }


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import yaml

    import uer_ray
    from uer_ray.cluster import ensure_ray
    from uer_ray.tune import SearchOptions, search
    from uer_ray.tune.results import score

    out = Path(args.out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    space_file = out / "space.yaml"
    space_file.write_text(yaml.safe_dump(space(args.quick), sort_keys=False,
                                         allow_unicode=True), encoding="utf-8")
    zoo = args.zoo or str(out / "zoo")
    timings: dict[str, float] = {}
    started = ensure_ray(args.address)
    total = time.perf_counter()
    try:
        print(f"== search: {space_file}\n$ python run.py search --space {space_file} "
              f"--out {out / 'search'} --zoo {zoo}", flush=True)
        t = time.perf_counter()
        record = search(SearchOptions(space=str(space_file), out=str(out / "search"), zoo=zoo,
                                      resume=_resumable(out / "search", space_file)))
        timings["search"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        rows = _scored(record, out / "search", score)
        timings["test scores"] = round(time.perf_counter() - t, 1)
        entry = record["results"]["published"][0]["entry"] if record["results"]["published"] else None
        prediction = None
        if entry:
            ref = f"zoo:{entry.split('@')[0]}@best-book_review"
            print(f"\n== predict with the winner from the zoo\n$ python run.py predict --model {ref} "
                  f"--zoo {zoo} --input {sample_dir() / 'test.tsv'} --out {out / 'predictions.tsv'}")
            t = time.perf_counter()
            prediction = uer_ray.predict(uer_ray.PredictOptions(
                model=ref, zoo=zoo, input=str(sample_dir() / "test.tsv"),
                out=str(out / "predictions.tsv"), probs=True, progress=False))
            timings["predict"] = round(time.perf_counter() - t, 1)
    finally:
        if started:
            import ray

            ray.shutdown()
    report = {"quick": args.quick, "seconds": timings,
              "total_seconds": round(time.perf_counter() - total, 1), "rows": rows,
              "winner": record["results"]["winner"], "zoo_entry": entry, "zoo": zoo,
              "test_rows": rows[0]["test_rows"] if rows else 0,
              "predictions": prediction["out"] if prediction else None}
    write_json(out / "quickstart.json", report)
    print("\n" + table(report))
    return 0


def _resumable(folder: Path, space_file: Path) -> bool:
    """Continue an interrupted quickstart search of the same space; start afresh otherwise (the
    folder is the quickstart's own output)."""
    import hashlib
    import json
    import shutil

    state = folder / "search.json"
    if state.exists():
        stored = json.loads(state.read_text(encoding="utf-8")).get("space_sha256")
        if stored == hashlib.sha256(space_file.read_bytes()).hexdigest() and not (folder / "metrics.json").exists():
            return True
        shutil.rmtree(folder)
    return False


def _scored(record: dict, search_out: Path, score) -> list[dict]:
    """Every finished configuration with its test accuracy (the search scored only the winner;
    the quickstart shows them all, to say what the test set can tell apart)."""
    rows = []
    test_file = str(sample_dir() / "test.tsv")
    for row in record["results"]["leaderboard"]:
        if row["status"] != "finished":
            continue
        folder = search_out / "trials" / row["trial"] / "finetune"
        test = score(folder, test_file)
        rows.append({"trial": row["trial"], "encoder": row["encoder"], "stage2": row["stage2"],
                     "dev_accuracy": row["best_dev"], "test_accuracy": test["accuracy"],
                     "test_rows": int(sum(map(sum, test["confusion"]))),
                     "seconds": row["seconds"]})
    return rows


def resolvable(accuracy: float, n: int) -> float:
    """Half-width of the 95% interval of a difference between two accuracies near ``accuracy``
    on ``n`` test rows (independent errors; a paired test of the same rows is tighter)."""
    return 1.96 * math.sqrt(2 * accuracy * (1 - accuracy) / max(n, 1))


def table(report: dict) -> str:
    """The comparison table and a one-paragraph summary."""
    rows = report["rows"]
    lines = [f"{'encoder':12} {'stage 2':16} {'dev acc':>8} {'test acc':>9} {'seconds':>8}"]
    for r in sorted(rows, key=lambda r: -r["dev_accuracy"]):
        stage2 = "none" if r["stage2"] == "none" else f"{r['stage2']} pre-training"
        lines.append(f"{r['encoder']:12} {stage2:16} {r['dev_accuracy']:8.4f} "
                     f"{r['test_accuracy']:9.4f} {r['seconds']:8.0f}")
    if not rows:
        return "\n".join(lines + ["No configuration finished; see the search's leaderboard."])
    n = report["test_rows"]
    mean = sum(r["test_accuracy"] for r in rows) / len(rows)
    half = resolvable(mean, n)
    best = max(rows, key=lambda r: r["dev_accuracy"])
    gaps = [(r, best["test_accuracy"] - r["test_accuracy"]) for r in rows if r is not best]
    clear = [r for r, g in gaps if abs(g) > half]
    lines.append(
        f"\nQuickstart{' (--quick: shortened, numbers are not meaningful)' if report['quick'] else ''}"
        f" finished in {report['total_seconds']:.0f} s. The winner on dev is {best['encoder']} "
        f"({'no stage 2' if best['stage2'] == 'none' else best['stage2'] + ' pre-training'}), "
        f"test accuracy {best['test_accuracy']:.4f}. On {n:,} test rows two accuracies near "
        f"{mean:.2f} must differ by more than ±{100 * half:.1f} points to be told apart (95%); "
        + (f"{len(clear)} of the other {len(gaps)} configurations are that far from the winner."
           if gaps else "")
        + (f" Published to the zoo as {report['zoo_entry']} ({report['zoo']}); predictions of "
           f"zoo:…@best-book_review in {report['predictions']}." if report["zoo_entry"] else "")
        + " Step times (s): " + ", ".join(f"{k} {v}" for k, v in report["seconds"].items()) + "."
    )
    return "\n".join(lines)
