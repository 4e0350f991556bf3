"""Where the seconds of a short ``pretrain`` go: one command's timeline, on its own embedded Ray
cluster (cold) and attached to a ``ray start`` cluster started beforehand (warm).

    .venv/bin/python bench/startup.py [--data SHARDS] [--steps 100] [--model bert-tiny] [--rounds 1] [--out DIR]

Each run is a fresh Python process (imports counted). The marks come from the driver (imports,
connecting to Ray, ``fit`` called and returned) and from the training worker (the end of steps
1, 2 and the last, through ``pretrain``'s ``on_step`` hook; same machine, same clock); ``exited``
is when the process ended, the way ``run.py`` ends a command. Each round also times a bare
``ray.init`` of an embedded cluster in a process of its own. Without ``--data``, shards of the
bundled CLUE sample are made first (not timed). The runs' folders go to ``--out`` (kept), or
to a temporary folder removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MARKS = ("uer_ray imported", "Ray connected", "fit called", "step 1 done", "step 2 done",
         "last step done", "fit returned", "exited")


def child(args) -> None:
    t0 = float(os.environ["STARTUP_T0"])
    marks: dict[str, float] = {}

    def mark(name: str) -> None:
        marks[name] = time.time() - t0

    sys.path.insert(0, str(REPO))
    import uer_ray
    import uer_ray.cluster
    from uer_ray.train import pretrain as P

    mark("uer_ray imported")
    connect, fit = uer_ray.cluster.ensure_ray, P.driver.fit

    def ensure_ray(*a, **k):
        result = connect(*a, **k)
        mark("Ray connected")
        return result

    def timed_fit(*a, **k):
        mark("fit called")
        result = fit(*a, **k)
        mark("fit returned")
        return result

    uer_ray.cluster.ensure_ray, P.driver.fit = ensure_ray, timed_fit
    stamps = Path(args.out) / "steps"
    stamps.mkdir(parents=True, exist_ok=True)
    last = args.steps

    def on_step(rank, step, folder=str(stamps), last=last):
        if step in (1, 2, last):
            Path(folder, str(step)).write_text(repr(time.time()))

    uer_ray.pretrain(uer_ray.PretrainOptions(
        model=args.model, data=str(args.data), out=str(Path(args.out) / "run"), steps=args.steps,
        overwrite=True, progress=False, wandb_mode="disabled", log_every=10), on_step=on_step)
    for step, name in ((1, "step 1 done"), (2, "step 2 done"), (last, "last step done")):
        marks[name] = float((stamps / str(step)).read_text()) - t0
    print("MARKS " + json.dumps(marks), flush=True)
    from uer_ray.cli import exit_quickly

    exit_quickly(0)  # as run.py ends a command


def bare_init() -> None:
    """Ray's own start, alone: ``ray.init`` of an embedded cluster as uer_ray starts it, minus
    uer_ray's runtime env."""
    import ray

    start = time.perf_counter()
    ray.init(address="local", num_cpus=4, include_dashboard=False, logging_level="ERROR")
    print(f"INIT {time.perf_counter() - start:.3f}", flush=True)


def time_bare_init() -> float:
    proc = subprocess.run([sys.executable, __file__, "--bare-init"], capture_output=True, text=True)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("INIT ")), None)
    if line is None:
        raise SystemExit(f"ray.init failed:\n{proc.stderr[-3000:]}")
    return float(line.split()[1])


def cpu_seconds() -> float | None:
    """CPU time used by the whole machine so far (user + system, all cores; Linux only)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system = (int(x) for x in fields[:3])
    return (user + nice + system) / os.sysconf("SC_CLK_TCK")


def run_child(args, out: Path, env: dict) -> dict:
    env = {**env, "STARTUP_T0": repr(time.time()), "WANDB_MODE": "disabled"}
    cpu = cpu_seconds()
    proc = subprocess.run([sys.executable, __file__, "--child", "--data", str(args.data),
                           "--steps", str(args.steps), "--model", args.model, "--out", str(out)],
                          env=env, capture_output=True, text=True)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("MARKS ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"the timed run failed:\n{proc.stderr[-3000:]}")
    marks = json.loads(line[len("MARKS "):])
    marks["exited"] = time.time() - float(env["STARTUP_T0"])
    if cpu is not None:
        marks["cpu"] = cpu_seconds() - cpu
    return marks


def make_shards(folder: Path) -> Path:
    sample = REPO / "uer_ray" / "samples" / "book_review" / "corpus.txt"
    vocab = folder / "vocab.txt"
    for argv in (["vocab", "--corpus", sample, "--tokenizer", "char", "--size", "6000", "--out", vocab],
                 ["preprocess", "--corpus", sample, "--processor", "bert", "--tokenizer", "char",
                  "--vocab", vocab, "--seq-length", "128", "--no-progress", "--address", "local",
                  "--out", folder / "shards"]):
        subprocess.run([sys.executable, "run.py", *map(str, argv)], cwd=REPO, check=True,
                       capture_output=True)
    return folder / "shards"


def measure(args, work: Path, LocalCluster) -> None:
    args.data = (args.data or make_shards(work)).absolute()
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS",)}
    runs: dict[str, list[dict]] = {"cold": [], "warm 1st": [], "warm 2nd": []}
    inits = []
    for r in range(args.rounds):
        inits.append(time_bare_init())
        runs["cold"].append(run_child(args, work / f"cold{r}", {**env, "UER_RAY_ATTACH": "0"}))
        cluster = LocalCluster(num_cpus=max(4, 2 * (os.cpu_count() or 1)))
        try:
            cluster.start()
            time.sleep(3)  # the head's own processes settle first
            attach = {k: v for k, v in cluster.env.items() if k != "UER_RAY_ATTACH"}
            # the first command on a fresh `ray start` cluster, then the next one on it
            runs["warm 1st"].append(run_child(args, work / f"warm{r}a", attach))
            runs["warm 2nd"].append(run_child(args, work / f"warm{r}b", attach))
        finally:
            cluster.stop()
    print(f"{args.model}, {args.steps} steps, batch 32: seconds since the command started "
          f"(median of {args.rounds} round(s); warm: attached to a `ray start` cluster, its first "
          "and its second command)")
    med = {k: {m: statistics.median(x[m] for x in v) for m in v[0]} for k, v in runs.items()}
    print(f"{'mark':20}" + "".join(f" {k:>9}" for k in med))
    for name in MARKS:
        print(f"{name:20}" + "".join(f" {m[name]:9.2f}" for m in med.values()))
    for label, a, b in (("fit -> step 1", "fit called", "step 1 done"),
                        ("steps 2 -> last", "step 2 done", "last step done"),
                        ("last step -> end", "last step done", "fit returned"),
                        ("fit returned -> exit", "fit returned", "exited")):
        print(f"{label:20}" + "".join(f" {m[b] - m[a]:9.2f}" for m in med.values()))
    if all("cpu" in m for m in med.values()):
        print(f"{'CPU s, all procs':20}" + "".join(f" {m['cpu']:9.2f}" for m in med.values()))
    print(f"bare ray.init of an embedded cluster (a process of its own, no uer_ray): "
          f"{statistics.median(inits):.2f} s (median; {min(inits):.2f}-{max(inits):.2f})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, help="bert shards (default: made from the bundled sample)")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--model", default="bert-tiny")
    p.add_argument("--out", type=Path, help="folder for the runs (default: a temporary one, removed)")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--bare-init", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    if args.bare_init:
        bare_init()
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from uer_py import LocalCluster

    work = args.out.absolute() if args.out else Path(tempfile.mkdtemp(prefix="uer-startup-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        measure(args, work, LocalCluster)
    finally:
        if args.out is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
