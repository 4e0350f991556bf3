"""Benchmark: bert-tiny fine-tuned on the two JSON CLUE tasks, CMRC 2018 (``--task mrc``) and C3
(``--task choice``), on a 2-core CPU.

    .venv/bin/python bench/finetune_clue.py [--data ../shared/data] [--epochs 1] [--seq-length 128]

The published test files carry no answers (CMRC 2018's test answers are ``FAKE_ANSWER_n``
placeholders, C3's test questions have no ``answer``), so each dev file is split by document:
every fifth document (index 0, 5, 10, ...) is held out for evaluation, the others train. The
held-out part also picks the best epoch, so the score is a development number, not a clean test
one (no third labelled set exists). The model is the ``bert-tiny`` preset (2 layers, hidden 128)
from random initialisation with Google's Chinese WordPiece vocabulary; no pre-training. Beside
the model the table prints what a trivial answer scores: for CMRC the context's first N
characters (N the median training answer length), for C3 the chance accuracy (the mean of
1/number of choices) and always answering the most frequent answer position of training.

Writes the splits and runs under ``--out`` and the table to bench/results/finetune_clue.{txt,json}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import uer_ray  # noqa: E402
from uer_ray.tasks.mrc import cmrc_em, cmrc_f1  # noqa: E402

RESULTS = REPO / "bench" / "results"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    p.add_argument("--out", default=str(REPO / "runs" / "bench_clue"))
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seq-length", type=int, default=128)
    p.add_argument("--tasks", default="mrc,choice")
    p.add_argument("--init", default=None, help="fine-tune this pre-trained bert-tiny checkpoint "
                   "(a pretrain --out's final/) instead of random weights; the table goes to "
                   "finetune_clue_pretrained.{txt,json}")
    return p.parse_args()


def split(src: Path, folder: Path) -> tuple[Path, Path]:
    """(train, held-out) files: every fifth document held out."""
    doc = json.loads(src.read_text(encoding="utf-8"))
    items = doc["data"] if isinstance(doc, dict) else doc
    parts = {"train": [d for i, d in enumerate(items) if i % 5], "heldout": items[::5]}
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, part in parts.items():
        path = folder / f"{name}.json"
        body = {**doc, "data": part} if isinstance(doc, dict) else part
        path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
        paths.append(path)
    return paths[0], paths[1]


def mrc_baseline(train: Path, heldout: Path) -> dict:
    def questions(path):
        for d in json.loads(path.read_text(encoding="utf-8"))["data"]:
            for p in d["paragraphs"]:
                for q in p["qas"]:
                    yield p["context"], [a["text"] for a in q["answers"]]

    n = int(statistics.median(len(a[0]) for _, a in questions(train)))
    rows = [(cmrc_f1(a, c[:n]), cmrc_em(a, c[:n])) for c, a in questions(heldout)]
    return {"name": f"the context's first {n} characters", "f1": sum(r[0] for r in rows) / len(rows),
            "em": sum(r[1] for r in rows) / len(rows)}


def choice_baselines(train: Path, heldout: Path) -> list[dict]:
    def questions(path):
        for d in json.loads(path.read_text(encoding="utf-8")):
            yield from d[1]

    common = Counter(q["choice"].index(q["answer"]) for q in questions(train)).most_common(1)[0][0]
    held = list(questions(heldout))
    chance = sum(1 / len(q["choice"]) for q in held) / len(held)
    fixed = sum(q["choice"].index(q["answer"]) == common for q in held) / len(held)
    return [{"name": "chance (mean of 1/choices)", "accuracy": chance},
            {"name": f"always choice {common} (most frequent in training)", "accuracy": fixed}]


def finetune(task: str, train: Path, heldout: Path, out: Path, a: argparse.Namespace, vocab: Path) -> dict:
    start_from = {"init": a.init} if a.init else {"model": "bert-tiny", "vocab": str(vocab)}
    options = uer_ray.FinetuneOptions(
        task=task, train=str(train), dev=str(heldout), test=str(heldout), out=str(out),
        **start_from, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr,
        seq_length=a.seq_length, device="cpu", progress=False)
    start_args = f"--init {a.init}" if a.init else f"--model bert-tiny --vocab {vocab}"
    print(f"$ python run.py finetune --task {task} --train {train} --dev {heldout} --test {heldout} "
          f"--out {out} {start_args} --epochs {a.epochs} --batch-size "
          f"{a.batch_size} --lr {a.lr} --seq-length {a.seq_length} --device cpu", flush=True)
    start = time.perf_counter()
    record = uer_ray.finetune(options, on_epoch=lambda r: print(json.dumps(r), flush=True))
    r = record["results"]
    return {"task": task, "train_examples": r["examples"], "test": r["test"],
            "best_epoch": r["best_epoch"], "seconds_per_epoch": r["seconds_per_epoch"],
            "seconds": time.perf_counter() - start}


def main() -> None:
    a = parse_args()
    data, out = Path(a.data), Path(a.out)
    vocab = data / "vocab" / "google_zh_vocab.txt"
    rows, lines = [], []
    start = "pre-trained" if a.init else "random init"
    for task in a.tasks.split(","):
        name = {"mrc": "cmrc2018", "choice": "c3"}[task]
        train, heldout = split(data / "datasets" / name / "dev.json", out / "splits" / name)
        result = finetune(task, train, heldout, out / name, a, vocab)
        t = result["test"]
        if task == "mrc":
            base = mrc_baseline(train, heldout)
            result["baselines"] = [base]
            lines.append(f"cmrc2018 (mrc)  bert-tiny, {start:<11} F1 {100 * t['f1']:5.1f}  EM {100 * t['em']:5.1f}"
                         f"  ({t['count']} held-out questions, {result['seconds_per_epoch']:.0f} s/epoch)")
            lines.append(f"                {base['name']:<24} F1 {100 * base['f1']:5.1f}  EM {100 * base['em']:5.1f}")
        else:
            result["baselines"] = choice_baselines(train, heldout)
            lines.append(f"c3 (choice)     bert-tiny, {start:<11} accuracy {100 * t['accuracy']:5.1f}"
                         f"  ({t['count']} held-out questions, {result['seconds_per_epoch']:.0f} s/epoch)")
            for b in result["baselines"]:
                lines.append(f"                {b['name']:<24} accuracy {100 * b['accuracy']:5.1f}")
        rows.append(result)
    origin = f"bert-tiny pre-trained ({a.init})" if a.init else "bert-tiny from random init"
    header = (f"{origin}, Google Chinese WordPiece vocabulary, {a.epochs} epochs, "
              f"batch {a.batch_size}, lr {a.lr}, seq_length {a.seq_length}, CPU; each dev.json split "
              "by document (every 5th held out: it picks the best epoch and is scored)")
    text = "\n".join([header, *lines]) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "finetune_clue_pretrained" if a.init else "finetune_clue"
    (RESULTS / f"{stem}.txt").write_text(text, encoding="utf-8")
    (RESULTS / f"{stem}.json").write_text(json.dumps(
        {"settings": vars(a), "runs": rows}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
