"""``run.py quickstart``: the platform's loop in small, on the sample data bundled in
``uer_ray/samples`` (Douban book reviews).

A search (``uer_ray.tune``) over a 2-layer LSTM from random weights and from a small stage-1
model (``samples/stage1/clue+lstm+lm``: the LSTM language model that ``recipes/clue_small.yaml``
pre-trains on general Chinese web text), each fine-tuned as it is and after stage-2 LM
pre-training on the in-domain review corpus (a Ray Train job inside the trial), beside a
BERT-tiny transformer from random weights; the leaderboard; every configuration scored on the
whole test file (8,000 rows), and each pre-trained configuration compared with the same LSTM
from random weights by a paired bootstrap (``report.stats.compare``) — how many points
pre-training gains and whether the test set resolves it; the winner published to a model zoo
(``OUT/zoo`` unless ``--zoo``) and used for prediction through its ``zoo:`` reference. W&B runs offline (files only) unless WANDB_MODE says
otherwise. ``--quick`` shrinks every stage (for the test suite); its numbers mean little.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import time
from importlib.resources import files
from pathlib import Path

from uer_ray.atomic import write_json
from uer_ray.cluster import ADDRESS_HELP

# (full, --quick) sizes
SIZES = {
    "train_rows": (2000, 300),
    "dev_rows": (500, 200),
    "test_rows": (8000, 300),
    "corpus_rows": (8000, 1000),
    "stage2_steps": (300, 12),
    "epochs": (4, 1),
}
SEQ_LENGTH = 128
# the LSTM of recipes/clue_small.yaml: the stage-1 model in samples/stage1 has this shape
LSTM = {"embedding": ["word"], "encoder": "lstm", "targets": {"lm": 1.0}, "emb_size": 128,
        "hidden_size": 128, "layers": 2, "max_seq_length": 512, "dropout": 0.1,
        "embedding_options": {"layernorm": False, "init_std": 1.0}}
STAGE1 = "clue+lstm+lm"
BASELINE = "lstm"  # the pre-trained configurations are compared with it (no stage 1, no stage 2)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/quickstart", help="work folder (default runs/quickstart)")
    p.add_argument("--quick", action="store_true", help="a much shorter run (for tests)")
    p.add_argument("--zoo", help="the zoo to publish the winner into (default OUT/zoo)")
    p.add_argument("--address", help=ADDRESS_HELP)


def sample_dir() -> Path:
    return Path(str(files("uer_ray") / "samples" / "book_review"))


def stage1_dir() -> Path:
    return Path(str(files("uer_ray") / "samples" / "stage1" / STAGE1))


def space(quick: bool) -> dict:
    """The quickstart's search space: the LSTM from scratch and from stage 1, each with and
    without stage 2, and BERT-tiny from scratch: a grid of 5."""
    size = {k: v[1 if quick else 0] for k, v in SIZES.items()}
    src = sample_dir()
    return {
        "name": "quickstart",
        "description": "an LSTM from random weights and from a stage-1 model, with and without "
                       "stage-2 pre-training; BERT-tiny from random weights",
        "task": "classify",
        "dataset": "book_review",
        "data": {"train": str(src / "train.tsv"), "dev": str(src / "dev.tsv"),
                 "test": str(src / "test.tsv"),
                 "rows": {"train": size["train_rows"], "dev": size["dev_rows"],
                          "test": size["test_rows"]}},
        "stage2": {"corpus": str(src / "corpus.txt"), "format": "text",
                   "rows": size["corpus_rows"], "seq_length": SEQ_LENGTH,
                   "steps": size["stage2_steps"], "batch_size": 32, "lr": 1e-3, "workers": 1},
        "encoders": {
            BASELINE: {"model": dict(LSTM), "lr": 1e-3, "targets": ["none", "lm"]},
            f"{BASELINE}-clue": {"stage1": str(stage1_dir()), "lr": 1e-3, "targets": ["none", "lm"]},
            "transformer": {"model": "bert-tiny", "lr": 1e-4, "targets": ["none"]},
        },
        "targets": {"lm": {"lm": 1.0}},
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
        rows = _scored(record, out / "search", _test_file(out, args.quick))
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
            from uer_ray.cluster import stop_ray

            stop_ray()
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


def _scored(record: dict, search_out: Path, test_file: str) -> list[dict]:
    """Every finished configuration with its test accuracy (the search scored only the winner;
    the quickstart shows them all), and each one's paired-bootstrap 95% interval against the
    LSTM from random weights without stage 2 (``gain``: points, low, high, resolved)."""
    from uer_ray.report.evaluate import test_units
    from uer_ray.report.stats import compare
    from uer_ray.tasks import get_task

    rows, units = [], {}
    for row in record["results"]["leaderboard"]:
        if row["status"] != "finished":
            continue
        folder = search_out / "trials" / row["trial"] / "finetune"
        task, units[row["trial"]] = test_units(folder, test_file, search_out / "test_units")
        accuracy = float(get_task(task).metric_from_units(units[row["trial"]][None])[0])
        rows.append({"trial": row["trial"], "encoder": row["encoder"], "stage2": row["stage2"],
                     "dev_accuracy": row["best_dev"], "test_accuracy": accuracy,
                     "test_rows": len(units[row["trial"]]), "seconds": row["seconds"]})
    base = next((r for r in rows if r["encoder"] == BASELINE and r["stage2"] == "none"), None)
    for r in rows:
        if base is not None and r is not base:
            c = compare("classify", r["trial"], units[r["trial"]], base["trial"],
                        units[base["trial"]], "accuracy")
            r["gain"] = {"points": round(100 * c.difference, 2), "low": round(100 * c.low, 2),
                         "high": round(100 * c.high, 2), "resolved": c.resolved}
    return rows


def resolvable(accuracy: float, n: int) -> float:
    """Half-width of the 95% interval of a difference between two accuracies near ``accuracy``
    on ``n`` test rows (independent errors; a paired test of the same rows is tighter)."""
    return 1.96 * math.sqrt(2 * accuracy * (1 - accuracy) / max(n, 1))


def _test_file(out: Path, quick: bool) -> str:
    """The test file the trials were scored on (its first rows with ``--quick``)."""
    rows = SIZES["test_rows"][1 if quick else 0]
    src = sample_dir() / "test.tsv"
    if rows >= SIZES["test_rows"][0]:
        return str(src)
    dst = out / "test.tsv"
    with open(src, encoding="utf-8") as f:
        dst.write_text("".join(itertools.islice(f, rows + 1)), encoding="utf-8")
    return str(dst)


def _start(r: dict) -> str:
    return "stage 1 (CLUE)" if r["encoder"].endswith("-clue") else "random weights"


def table(report: dict) -> str:
    """The comparison table and a one-paragraph summary."""
    rows = report["rows"]
    lines = [f"{'encoder':12} {'start':15} {'stage 2':10} {'dev acc':>8} {'test acc':>9} "
             f"{'vs ' + BASELINE + ' (points, 95%)':>30} {'seconds':>8}"]
    for r in sorted(rows, key=lambda r: -r["test_accuracy"]):
        stage2 = "none" if r["stage2"] == "none" else f"{r['stage2']}"
        g = r.get("gain")
        vs = (f"{g['points']:+.1f} [{g['low']:+.1f}, {g['high']:+.1f}]"
              f"{' resolved' if g['resolved'] else ''}") if g else "(baseline)"
        lines.append(f"{r['encoder'].removesuffix('-clue'):12} {_start(r):15} {stage2:10} "
                     f"{r['dev_accuracy']:8.4f} {r['test_accuracy']:9.4f} {vs:>30} "
                     f"{r['seconds']:8.0f}")
    if not rows:
        return "\n".join(lines + ["No configuration finished; see the search's leaderboard."])
    n = report["test_rows"]
    best = max(rows, key=lambda r: r["dev_accuracy"])
    pre = [r for r in rows if r.get("gain") and r["encoder"].startswith(BASELINE)]
    helped = [r for r in pre if r["gain"]["resolved"] and r["gain"]["points"] > 0]
    hurt = [r for r in pre if r["gain"]["resolved"] and r["gain"]["points"] < 0]

    def name(r):
        parts = [p for p in (("stage 1" if r["encoder"].endswith("-clue") else ""),
                             ("stage 2 " + r["stage2"] if r["stage2"] != "none" else "")) if p]
        return " + ".join(parts)

    verdict = ("; ".join(f"{name(r)}: {r['gain']['points']:+.1f} points" for r in pre)
               or "no pre-trained LSTM finished")
    lines.append(
        f"\nQuickstart{' (--quick: shortened, numbers are not meaningful)' if report['quick'] else ''}"
        f" finished in {report['total_seconds']:.0f} s. Pre-training the LSTM, against the same "
        f"LSTM from random weights on the same {n:,} test rows (paired bootstrap, 95%): {verdict}. "
        f"{len(helped)} of {len(pre)} gain{'s' if len(helped) == 1 else ''} beyond the noise"
        + (f", {len(hurt)} lose{'s' if len(hurt) == 1 else ''} beyond it" if hurt else "")
        + f". The winner on dev is {best['encoder']} "
        f"({'no stage 2' if best['stage2'] == 'none' else best['stage2'] + ' stage 2'}), test "
        f"accuracy {best['test_accuracy']:.4f}. Two independent accuracies near "
        f"{best['test_accuracy']:.2f} on these rows are told apart beyond ±"
        f"{100 * resolvable(best['test_accuracy'], n):.1f} points; the paired comparison above "
        "is tighter."
        + (f" Published to the zoo as {report['zoo_entry']} ({report['zoo']}); predictions of "
           f"zoo:…@best-book_review in {report['predictions']}." if report["zoo_entry"] else "")
        + " Step times (s): " + ", ".join(f"{k} {v}" for k, v in report["seconds"].items()) + "."
    )
    return "\n".join(lines)
