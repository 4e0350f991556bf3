"""uer_ray against UER-py in one run, alternating rounds: preprocessing, pre-training and
fine-tuning on the CPU with the same vocabulary, seed, batch, learning rate, warm-up and
sequence length.

    .venv/bin/python bench/peers.py [--uer-py ../peers/UER-py] [--rounds 2] [--steps 100]
        [--models bert-tiny bert-mini] [--parts preprocess,pretrain,finetune]

UER-py is a checkout of its public repository (``--uer-py``, ``$UER_PY`` or ``../peers/UER-py``);
its ``preprocess.py``, ``pretrain.py`` and ``finetune/run_classifier.py`` run as subprocesses,
as do uer_ray's ``run.py preprocess``, ``pretrain`` and ``finetune``. Each round runs every
measurement of both tools, the order of the two tools swapping from round to round, because
this machine's speed drifts by 10-20 % over minutes.

- preprocess: CLUECorpusSmall (bert sample, 2 MB), the bert processor (MLM + sentence order),
  Google's Chinese vocabulary, sequence length 128, dynamic masking (masks drawn in training on
  both sides); wall time of the command.
- pretrain: ``--steps`` steps of batch 32 x 128, lr 1e-4, warm-up 0.1, seed 7, no gradient
  clipping (UER-py has none: uer_ray runs with ``--clip 0``). Steady s/step is read from the
  timestamps both tools write every 10 steps, from step 20 to the last; end-to-end is the wall
  time of the whole command. uer_ray runs twice: ``cold`` starts its own embedded Ray cluster
  (``--address local``), ``warm`` attaches to a ``ray start`` cluster the bench starts just
  before that run and stops after it (its start-up is reported on its own line, not charged to
  the run; no cluster idles beside the other runs), ``warm next`` is the same command run again
  on that cluster before it stops (the second command of a user who ran ``ray start`` once).
- finetune: book_review (``--ft-train-rows`` of train.tsv, all 8,000 dev rows), bert-tiny from
  random weights with the same vocabulary, batch 32, seq 128, lr ``--ft-lr``, warm-up 0.1,
  ``--ft-epochs`` epochs, seed 7. s/epoch is the time between the end of the first epoch's dev
  evaluation and the end of the last, over the epochs between (training and dev evaluation,
  no start-up); examples/s = training rows / s per epoch; dev accuracy is the best epoch's.
  Differences not removed: UER-py pads every example to 128 tokens, uer_ray pads each batch to
  its longest example; uer_ray clips fine-tuning gradients at norm 1.0, UER-py does not clip.

Results: a table on stdout and in ``--txt``, the raw numbers in ``--json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

from uer_py import REPO, LocalCluster, find_uer_py, timed_lines

SHARED = REPO.parent / "shared" / "data"
CORPUS = SHARED / "corpora" / "CLUECorpusSmall_bert_sampled.txt"
VOCAB = SHARED / "vocab" / "google_zh_vocab.txt"
BOOK = SHARED / "datasets" / "book_review"
UER_CONFIG = {"bert-tiny": "models/bert/tiny_config.json", "bert-mini": "models/bert/mini_config.json"}
SEED, BATCH, SEQ, LR, WARMUP = 7, 32, 128, 1e-4, 0.1
UER_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO\]")
UER_STEP = re.compile(r"\|\s+(\d+)/\s*\d+ steps\|")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--uer-py", help="a UER-py checkout (default: $UER_PY or ../peers/UER-py)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--steps", type=int, default=100, help="pre-training steps per run")
    p.add_argument("--models", nargs="+", default=["bert-tiny", "bert-mini"],
                   choices=sorted(UER_CONFIG))
    p.add_argument("--parts", default="preprocess,pretrain,finetune")
    p.add_argument("--ft-epochs", type=int, default=3)
    p.add_argument("--ft-lr", type=float, default=3e-4)
    p.add_argument("--ft-train-rows", type=int, default=0, help="0: all 20,000")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="OMP_NUM_THREADS of UER-py (uer_ray sizes its own threads)")
    p.add_argument("--out", type=Path, default=REPO / "runs" / "bench_peers")
    p.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "peers.json")
    p.add_argument("--txt", type=Path, default=REPO / "bench" / "results" / "peers.txt")
    return p.parse_args()


class Bench:
    def __init__(self, args: argparse.Namespace, uer_py: Path):
        self.args, self.uer_py = args, uer_py
        self.out = args.out
        self.py = sys.executable
        self.env = {**os.environ, "WANDB_MODE": "disabled", "UER_RAY_ATTACH": "0",
                    "OMP_NUM_THREADS": str(args.threads)}
        self.env.pop("RAY_ADDRESS", None)
        self.rows: list[dict] = []

    def record(self, **row) -> dict:
        self.rows.append(row)
        shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}
        print("  " + json.dumps(shown, ensure_ascii=False), flush=True)
        return row

    def run(self, name: str, cmd: list, *, cwd: Path, env: dict | None = None):
        log = self.out / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        return timed_lines([str(c) for c in cmd], cwd=cwd, env=env or self.env, log=log)

    # -- preprocess ----------------------------------------------------------------------------
    def preprocess(self, tool: str, r: int) -> dict:
        if tool == "UER-py":
            target = self.out / "uer" / f"bert-r{r}.pt"
            target.parent.mkdir(parents=True, exist_ok=True)
            wall, _ = self.run(f"pre-uer-r{r}", [
                self.py, "preprocess.py", "--corpus_path", CORPUS, "--vocab_path", VOCAB,
                "--dataset_path", target, "--processes_num", str(self.args.threads),
                "--data_processor", "bert", "--seq_length", SEQ, "--dynamic_masking",
                "--seed", SEED], cwd=self.uer_py)
            shutil.copyfile(target, self.out / "uer" / "bert.pt")
        else:
            target = self.out / "ours" / f"shards-r{r}"
            shutil.rmtree(target, ignore_errors=True)
            wall, _ = self.run(f"pre-ours-r{r}", [
                self.py, "run.py", "preprocess", "--corpus", CORPUS, "--processor", "bert",
                "--tokenizer", "wordpiece", "--vocab", VOCAB, "--seq-length", SEQ, "--seed", SEED,
                "--workers", str(self.args.threads), "--address", "local", "--no-progress",
                "--out", target], cwd=REPO)
            final = self.out / "ours" / "shards"
            shutil.rmtree(final, ignore_errors=True)
            shutil.copytree(target, final)
        return self.record(part="preprocess", tool=tool, round=r, wall_s=wall)

    def ensure_data(self) -> None:
        if not (self.out / "uer" / "bert.pt").exists():
            self.preprocess("UER-py", 0)
        if not (self.out / "ours" / "shards" / "manifest.json").exists():
            self.preprocess("uer_ray", 0)

    # -- pretrain ------------------------------------------------------------------------------
    def pretrain_uer(self, model: str, r: int) -> dict:
        steps = self.args.steps
        wall, lines = self.run(f"pt-uer-{model}-r{r}", [
            self.py, "pretrain.py", "--dataset_path", self.out / "uer" / "bert.pt",
            "--vocab_path", VOCAB, "--config_path", UER_CONFIG[model],
            "--output_model_path", self.out / "uer" / f"{model}.bin", "--total_steps", steps,
            "--save_checkpoint_steps", steps, "--report_steps", 10, "--batch_size", BATCH,
            "--learning_rate", LR, "--warmup", WARMUP, "--seed", SEED], cwd=self.uer_py)
        stamps = {}
        for _, text in lines:
            step, when = UER_STEP.search(text), uer_time(text)
            if step and when is not None:
                stamps[int(step.group(1))] = when
        return self.record(part="pretrain", tool="UER-py", model=model, round=r, wall_s=wall,
                           s_per_step=steady(stamps, steps))

    def pretrain_ours(self, model: str, r: int, how: str, cluster: LocalCluster | None) -> dict:
        steps = self.args.steps
        tag = how.replace(" ", "-")
        out = self.out / "ours" / f"{model}-{tag}"
        env = {**self.env, **(cluster.env if cluster else {})}
        if cluster:
            env.pop("UER_RAY_ATTACH", None)
        cmd = [self.py, "run.py", "pretrain", "--model", model, "--data",
               self.out / "ours" / "shards", "--out", out, "--steps", steps, "--log-every", 10,
               "--save-every", steps, "--batch-size", BATCH, "--lr", LR, "--warmup", WARMUP,
               "--seed", SEED, "--clip", 0, "--overwrite", "--wandb-mode", "disabled"]
        if cluster is None:
            cmd += ["--address", "local"]
        wall, lines = self.run(f"pt-ours-{model}-{tag}-r{r}", cmd, cwd=REPO, env=env)
        if cluster is not None and not any("Attaching to the Ray cluster" in t for _, t in lines):
            raise RuntimeError("the warm run did not attach to the bench's cluster")
        stamps = {}
        for line in (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            if "step" in rec and "time" in rec:
                stamps[int(rec["step"])] = float(rec["time"])
        return self.record(part="pretrain", tool=f"uer_ray {how}", model=model, round=r,
                           wall_s=wall, s_per_step=steady(stamps, steps))

    # -- finetune ------------------------------------------------------------------------------
    def finetune_data(self) -> tuple[Path, Path, int]:
        rows = self.args.ft_train_rows
        train = BOOK / "train.tsv"
        if rows:
            train = self.out / "ft" / "train.tsv"
            train.parent.mkdir(parents=True, exist_ok=True)
            lines = (BOOK / "train.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
            train.write_text("".join(lines[: rows + 1]), encoding="utf-8")
        count = sum(1 for _ in open(train, encoding="utf-8")) - 1
        return train, BOOK / "dev.tsv", count

    def finetune(self, tool: str, r: int) -> dict:
        a = self.args
        train, dev, n = self.finetune_data()
        out = self.out / "ft" / f"{'uer' if tool == 'UER-py' else 'ours'}-r{r}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        if tool == "UER-py":
            wall, lines = self.run(f"ft-uer-r{r}", [
                self.py, "finetune/run_classifier.py", "--vocab_path", VOCAB, "--config_path",
                UER_CONFIG["bert-tiny"], "--train_path", train, "--dev_path", dev,
                "--output_model_path", out / "model.bin", "--epochs_num", a.ft_epochs,
                "--batch_size", BATCH, "--learning_rate", a.ft_lr, "--warmup", WARMUP,
                "--seq_length", SEQ, "--seed", SEED, "--report_steps", n // BATCH], cwd=self.uer_py)
            # its logger stamps every line: an epoch's training pass runs from the previous
            # dev result (or "Start training.") to the report after its last full batch
            train_s, ends, mark = [], [], None
            for _, text in lines:
                when = uer_time(text)
                if when is None:
                    continue
                if "Start training." in text:
                    mark = when
                elif "Training steps:" in text and mark is not None:
                    train_s.append(when - mark)
                elif m := re.search(r"Acc\. \(Correct/Total\): ([0-9.]+)", text):
                    ends.append((when, float(m.group(1))))
                    mark = when
        else:
            wall, lines = self.run(f"ft-ours-r{r}", [
                self.py, "run.py", "finetune", "--task", "classify", "--train", train, "--dev", dev,
                "--model", "bert-tiny", "--vocab", VOCAB, "--tokenizer", "wordpiece",
                "--epochs", a.ft_epochs, "--batch-size", BATCH, "--lr", a.ft_lr,
                "--warmup", WARMUP, "--seq-length", SEQ, "--seed", SEED, "--out", out,
                "--wandb-mode", "disabled"], cwd=REPO)
            ends = [(t, float(m.group(1))) for t, text in lines
                    if (m := re.match(r"epoch \d+/\d+: .*dev/accuracy ([0-9.]+)", text))]
            train_s = [json.loads(line)["epoch_seconds"] for line in
                       (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
        if len(ends) != a.ft_epochs or len(train_s) != a.ft_epochs:
            raise RuntimeError(f"{tool}: expected {a.ft_epochs} epochs, found {len(ends)} dev "
                               f"results and {len(train_s)} training passes")
        later = train_s[1:] or train_s  # the first pass holds the allocator's warm-up
        per_train = statistics.mean(later)
        per_epoch = (ends[-1][0] - ends[0][0]) / max(1, len(ends) - 1)
        return self.record(part="finetune", tool=tool, round=r, wall_s=wall, s_per_epoch=per_epoch,
                           train_s_per_epoch=per_train, examples_per_s=n / per_train,
                           dev=max(acc for _, acc in ends),
                           dev_per_epoch=[acc for _, acc in ends], train_rows=n)


def uer_time(text: str) -> float | None:
    """The time UER-py's logger stamped on a line, or None."""
    m = UER_TIME.match(text)
    if m is None:
        return None
    return datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()


def steady(stamps: dict[int, float], steps: int) -> float:
    """Seconds per step from the stamp at step 20 to the last (the first windows hold start-up)."""
    first = 20 if 20 in stamps and steps > 20 else min(stamps)
    if first == steps:
        raise RuntimeError("too few steps to time: use --steps of 30 or more")
    return (stamps[steps] - stamps[first]) / (steps - first)


def summarise(rows: list[dict], args, cluster_start: float | None) -> str:
    def med(part, tool, key, **match):
        vals = [r[key] for r in rows if r["part"] == part and r["tool"] == tool
                and all(r.get(k) == v for k, v in match.items())]
        return statistics.median(vals) if vals else None

    out = [f"uer_ray against UER-py on this machine ({os.cpu_count()} CPU cores, torch threads = "
           f"cores, fp32); medians of {args.rounds} alternating round(s); {datetime.date.today()}",
           "command: .venv/bin/python bench/peers.py " + " ".join(sys.argv[1:]), ""]
    if any(r["part"] == "preprocess" for r in rows):
        u, o = med("preprocess", "UER-py", "wall_s"), med("preprocess", "uer_ray", "wall_s")
        out += ["preprocess (CLUECorpusSmall bert sample, 2 MB, bert processor, seq 128; "
                f"{args.threads} processes each)",
                f"  UER-py {u:6.1f} s   uer_ray {o:6.1f} s   UER-py/uer_ray {u / o:4.2f}x", ""]
    if any(r["part"] == "pretrain" for r in rows):
        out.append(f"pre-training, batch 32 x 128, MLM + SP, {args.steps} steps, no clipping")
        out.append(f"{'model':10} {'tool':17} {'s/step':>7} {'steps/s':>8} {'x UER-py':>9} "
                   f"{'end-to-end s':>13} {'x UER-py':>9}")
        for model in args.models:
            base_step = med("pretrain", "UER-py", "s_per_step", model=model)
            base_wall = med("pretrain", "UER-py", "wall_s", model=model)
            for tool in ("UER-py", "uer_ray cold", "uer_ray warm", "uer_ray warm next"):
                s = med("pretrain", tool, "s_per_step", model=model)
                w = med("pretrain", tool, "wall_s", model=model)
                if s is None:
                    continue
                out.append(f"{model:10} {tool:17} {s:7.3f} {1 / s:8.2f} {base_step / s:8.2f}x "
                           f"{w:13.1f} {base_wall / w:8.2f}x")
        if cluster_start is not None:
            out.append(f"(warm: attached to a `ray start --head --num-cpus 4 --include-dashboard=false` "
                       f"cluster started before the run ({cluster_start:.1f} s, not counted) and "
                       "stopped after it; warm next: the command after that one on the same "
                       "cluster; x > 1 means uer_ray is faster)")
        out.append("")
    if any(r["part"] == "finetune" for r in rows):
        out.append(f"fine-tuning bert-tiny from random weights on book_review "
                   f"({rows[-1].get('train_rows', '?')} train rows, 8,000 dev), batch 32, seq 128, "
                   f"lr {args.ft_lr:g}, {args.ft_epochs} epochs")
        base = med("finetune", "UER-py", "examples_per_s")
        base_epoch = med("finetune", "UER-py", "s_per_epoch")
        out.append(f"  {'tool':8} {'train s/epoch':>13} {'examples/s':>11} {'x UER-py':>9} "
                   f"{'epoch+dev s':>12} {'x UER-py':>9}   best dev accuracy per round")
        for tool in ("UER-py", "uer_ray"):
            e = med("finetune", tool, "examples_per_s")
            full = med("finetune", tool, "s_per_epoch")
            devs = [r["dev"] for r in rows if r["part"] == "finetune" and r["tool"] == tool]
            out.append(f"  {tool:8} {med('finetune', tool, 'train_s_per_epoch'):13.1f} {e:11.1f} "
                       f"{e / base:8.2f}x {full:12.1f} {base_epoch / full:8.2f}x   "
                       + " ".join(f"{d:.4f}" for d in devs))
        out.append("  (train s/epoch: the training pass of epochs 2 onward; epoch+dev: from one "
                   "epoch's dev result to the next; 8,000 dev rows: an accuracy near 0.75 has a "
                   "standard error of about 0.005)")
    return "\n".join(out)


def main() -> int:
    args = parse_args()
    uer_py = find_uer_py(args.uer_py)
    if uer_py is None:
        raise SystemExit("no UER-py checkout: pass --uer-py PATH (a clone of its public "
                         "repository) or set UER_PY")
    if not CORPUS.exists():
        raise SystemExit(f"{CORPUS} is missing: this bench reads ../shared/data")
    parts = set(args.parts.split(","))
    bench = Bench(args, uer_py)
    args.out.mkdir(parents=True, exist_ok=True)
    starts: list[float] = []
    try:
        for r in range(args.rounds):
            tools = ["UER-py", "uer_ray"] if r % 2 == 0 else ["uer_ray", "UER-py"]
            print(f"round {r + 1}/{args.rounds} ({' first, '.join(tools)} second)", flush=True)
            if "preprocess" in parts:
                for tool in tools:
                    bench.preprocess(tool, r)
            if "pretrain" in parts:
                bench.ensure_data()
                for model in args.models:
                    for tool in tools:
                        if tool == "UER-py":
                            bench.pretrain_uer(model, r)
                        else:
                            bench.pretrain_ours(model, r, "cold", None)
                            # the cluster lives only around the warm run: its idle daemons
                            # would slow every other run beside it
                            cluster = LocalCluster(num_cpus=max(4, 2 * (os.cpu_count() or 1)))
                            try:
                                starts.append(cluster.start())
                                time.sleep(3)  # its own processes settle before the run
                                bench.pretrain_ours(model, r, "warm", cluster)
                                # the next command on the same cluster: Ray's detached helper
                                # actors (Train's autoscaling coordinator, Data's stats actor)
                                # exist from the first one, as they do for a user's second run
                                bench.pretrain_ours(model, r, "warm next", cluster)
                            finally:
                                cluster.stop()
            if "finetune" in parts:
                for tool in tools:
                    bench.finetune(tool, r)
    except KeyboardInterrupt:
        print("interrupted: the table covers the runs that finished", file=sys.stderr)
    text = summarise(bench.rows, args, statistics.median(starts) if starts else None)
    print("\n" + text)
    args.txt.parent.mkdir(parents=True, exist_ok=True)
    args.txt.write_text(text + "\n", encoding="utf-8")
    args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                     "rows": bench.rows}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
