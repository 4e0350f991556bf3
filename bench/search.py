"""Benchmark of the search (issue 12), printed as a table, results in bench/results/search.*:

(a) overhead — the same 6 fixed trials (fine-tuning only, a book-review slice) through
    ``search`` (one at a time, Ray start-up included) against calling ``uer_ray.finetune`` for
    them in a plain loop in one process; target: search wall time <= 1.1 x the loop's. The
    search runs twice: on its own embedded cluster, and attached to a ``ray start`` cluster
    that the bench starts first (and stops by PID);
(b) early stopping — the ``uer-grid`` space (UER-py's 18-run grid) with ASHA against the full
    grid (FIFO): ASHA's best dev within 0.5 points of the grid's best at <= 50% of the grid's
    trial-seconds;
(c) concurrency — the 6 trials two at a time (each with one core) against one at a time (each
    with both cores), as trials per hour.

    .venv/bin/python bench/search.py [--parts a,b,c] [--out runs/bench_search]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DATA = REPO.parent / "shared" / "data" / "datasets" / "book_review"
LSTM = {"embedding": ["word"], "encoder": "lstm", "targets": {"lm": 1.0}, "emb_size": 128,
        "hidden_size": 128, "layers": 1, "max_seq_length": 512, "dropout": 0.1,
        "embedding_options": {"layernorm": False, "init_std": 1.0}}


def six_trials(folder: Path) -> Path:
    """6 fixed configurations: (lstm, bert-tiny) x 3 learning rates, 2 epochs on 2,000 rows."""
    space = {
        "name": "bench6", "task": "classify", "dataset": "book_review",
        "data": {"train": str(DATA / "train.tsv"), "dev": str(DATA / "dev.tsv"),
                 "rows": {"train": 2000, "dev": 500}},
        "vocabulary": {"tokenizer": "char", "size": 5000},
        "encoders": {"lstm": {"model": copy.deepcopy(LSTM), "lr": {"choice": [1e-3, 2e-3, 4e-3]}},
                     "transformer": {"model": "bert-tiny", "lr": {"choice": [1e-4, 2e-4, 4e-4]}}},
        "finetune": {"epochs": 2, "batch_size": 32, "seq_length": 128},
        "budget": {"searcher": "grid", "scheduler": "fifo", "publish_top": 0},
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bench6.yaml"
    path.write_text(yaml.safe_dump(space, sort_keys=False), encoding="utf-8")
    return path


def run_search(space: Path, out: Path, **kw) -> tuple[float, dict]:
    import ray

    from uer_ray.tune import SearchOptions, search

    if ray.is_initialized():
        ray.shutdown()
    start = time.perf_counter()
    record = search(SearchOptions(space=str(space), out=str(out), wandb_mode="disabled",
                                  progress=False, **kw))
    wall = time.perf_counter() - start
    ray.shutdown()  # part of the measured cost is Ray's start; the next run starts its own
    return wall, record


def run_loop(space_path: Path, out: Path) -> tuple[float, list[float]]:
    """The same configurations through ``uer_ray.finetune`` in a plain loop."""
    import uer_ray
    from uer_ray.tune import load_space
    from uer_ray.tune.driver import SearchOptions, proposals
    from uer_ray.tune.prepare import inputs

    start = time.perf_counter()
    space = load_space(space_path)
    prepared = inputs(space, out, progress=False)
    best = []
    for i, trial in enumerate(proposals(space, SearchOptions(space=str(space_path), searcher="grid",
                                                            seed=0, samples=0))):
        enc = space.encoders[trial.encoder]
        record = uer_ray.finetune(uer_ray.FinetuneOptions(
            task=space.task, train=prepared.files["train"], dev=prepared.files["dev"],
            out=str(out / f"t{i}"), model=enc.model, vocab=prepared.vocab, tokenizer="char",
            lr=trial.lr, epochs=trial.finetune["epochs"], batch_size=trial.finetune["batch_size"],
            seq_length=trial.finetune["seq_length"], seed=0, progress=False, wandb_mode="disabled",
            device="cpu"))
        best.append(record["results"]["dev"]["accuracy"])
    return time.perf_counter() - start, best


def part_a(out: Path) -> dict:
    """The loop, the search on an embedded cluster (Ray's start and stop included), and the
    search attached to a `ray start` cluster started beforehand (attaching and detaching
    included), in that order."""
    from uer_py import LocalCluster

    space = six_trials(out)
    loop_s, loop_best = run_loop(space, out / "loop")
    search_s, record = run_search(space, out / "search-a", max_concurrent=1)
    cluster = LocalCluster(num_cpus=max(4, 2 * (os.cpu_count() or 1)))
    saved = {k: os.environ.get(k) for k in ("RAY_TMPDIR", "UER_RAY_ATTACH")}
    try:
        cluster.start()
        time.sleep(3)  # the head's own processes settle before anything is timed
        os.environ["RAY_TMPDIR"] = cluster.env["RAY_TMPDIR"]
        os.environ.pop("UER_RAY_ATTACH", None)
        warm_s, warm = run_search(space, out / "search-a-warm", max_concurrent=1)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        cluster.stop()
    return {"loop_s": loop_s, "search_s": search_s, "ratio": search_s / loop_s,
            "warm_search_s": warm_s, "warm_ratio": warm_s / loop_s,
            "loop_best_dev": max(loop_best), "search_best_dev": record["results"]["winner"]["best_dev"],
            "warm_best_dev": warm["results"]["winner"]["best_dev"], "target": "<= 1.1"}


def part_b(out: Path) -> dict:
    space = REPO / "search_spaces" / "uer-grid.yaml"
    grid_s, grid = run_search(space, out / "search-grid", scheduler="fifo")
    asha_s, asha = run_search(space, out / "search-asha", scheduler="asha")
    g, a = grid["results"], asha["results"]
    return {"grid_best_dev": g["winner"]["best_dev"], "asha_best_dev": a["winner"]["best_dev"],
            "grid_trial_s": g["trial_seconds"], "asha_trial_s": a["trial_seconds"],
            "grid_wall_s": grid_s, "asha_wall_s": asha_s,
            "points_behind": 100 * (g["winner"]["best_dev"] - a["winner"]["best_dev"]),
            "seconds_ratio": a["trial_seconds"] / g["trial_seconds"],
            "asha_status": a["status"], "target": "points <= 0.5 at seconds ratio <= 0.5"}


def part_c(out: Path) -> dict:
    space = six_trials(out)
    one_s, _ = run_search(space, out / "search-c1", max_concurrent=1)
    two_s, _ = run_search(space, out / "search-c2", max_concurrent=2)
    return {"one_at_a_time_s": one_s, "two_at_a_time_s": two_s,
            "trials_per_hour_one": 6 * 3600 / one_s, "trials_per_hour_two": 6 * 3600 / two_s}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", default="a,b,c")
    p.add_argument("--out", default=str(REPO / "runs" / "bench_search"))
    args = p.parse_args()
    out = Path(args.out)
    if out.exists():
        import shutil

        shutil.rmtree(out)
    results_dir = REPO / "bench" / "results"
    # a run of some parts keeps the others' last results (each part says when it was measured)
    saved = results_dir / "search.json"
    results = json.loads(saved.read_text(encoding="utf-8")) if saved.exists() else {}
    for part, fn in (("a", part_a), ("b", part_b), ("c", part_c)):
        if part in args.parts.split(","):
            print(f"== part {part}", flush=True)
            results[part] = {**fn(out), "measured": time.strftime("%Y-%m-%d %H:%M")}
            print(json.dumps(results[part], indent=1), flush=True)
    text = table(results)
    print("\n" + text)
    (results_dir / "search.txt").write_text(text + "\n", encoding="utf-8")
    (results_dir / "search.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def table(results: dict) -> str:
    lines = ["search benchmark (2-core CPU, embedded Ray cluster)", ""]
    if "a" in results:
        r = results["a"]
        lines += [f"(a) overhead: 6 fixed fine-tuning trials, one at a time  [{r.get('measured', '')}]",
                  f"    plain loop of uer_ray.finetune   {r['loop_s']:8.1f} s   best dev {r['loop_best_dev']:.4f}",
                  f"    run.py search (Ray start incl.)  {r['search_s']:8.1f} s   best dev {r['search_best_dev']:.4f}   ratio {r['ratio']:.2f}"]
        if "warm_search_s" in r:
            lines.append(f"    attached to a `ray start` cluster {r['warm_search_s']:7.1f} s   best dev "
                         f"{r['warm_best_dev']:.4f}   ratio {r['warm_ratio']:.2f}")
        lines += [f"    (target {r.get('target', '<= 1.2')})", ""]
    if "b" in results:
        r = results["b"]
        lines += [f"(b) uer-grid, 18 configurations: ASHA against the full grid (FIFO)  [{r.get('measured', '')}]",
                  f"    grid  best dev {r['grid_best_dev']:.4f}  trial-seconds {r['grid_trial_s']:8.0f}  wall {r['grid_wall_s']:6.0f} s",
                  f"    ASHA  best dev {r['asha_best_dev']:.4f}  trial-seconds {r['asha_trial_s']:8.0f}  wall {r['asha_wall_s']:6.0f} s  ({r['asha_status']})",
                  f"    ASHA is {r['points_behind']:+.2f} points behind at {r['seconds_ratio']:.2f} of the trial-seconds "
                  "(target: <= 0.5 points at <= 0.50)", ""]
    if "c" in results:
        r = results["c"]
        lines += [f"(c) concurrency: the 6 trials  [{r.get('measured', '')}]",
                  f"    one at a time (2 threads each)   {r['one_at_a_time_s']:8.1f} s  {r['trials_per_hour_one']:6.1f} trials/hour",
                  f"    two at a time (1 thread each)    {r['two_at_a_time_s']:8.1f} s  {r['trials_per_hour_two']:6.1f} trials/hour"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
