"""The pre-training acceptance matrix: each UER model family pre-trains for a few hundred steps on
2 workers of this machine, its main loss falls, and its final checkpoint loads.

    python bench/pretrain_matrix.py [--steps 200] [--workers 2] [--only bert-tiny lstm ...]
                                    [--work runs/matrix]

| case       | model     | targets      | corpus                         | processor |
|------------|-----------|--------------|--------------------------------|-----------|
| bert-tiny  | bert-tiny | mlm + sp     | CLUECorpusSmall_bert_sampled   | bert      |
| lstm       | lstm      | lm           | CLUECorpusSmall_sampled        | lm        |
| gatedcnn   | gatedcnn  | lm           | CLUECorpusSmall_sampled        | lm        |
| elmo       | elmo      | bilm         | CLUECorpusSmall_sampled        | bilm      |
| cove       | cove      | mt           | news-commentary en-zh pairs    | mt        |
| transformer| bert-tiny | mlm + cls    | book_review_cls                | cls_mlm   |
| stage2     | --init bert-tiny run | mlm + cls | book_review_cls            | cls_mlm   |

Shards are made once under ``--work``/shards and reused. Prints a table and writes
``--work``/matrix.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
ZH_VOCAB = DATA / "vocab/google_zh_vocab.txt"
EN_VOCAB = DATA / "vocab/google_uncased_en_vocab.txt"

# name: (model, --targets, corpus, processor, seq length, extra preprocess args, loss key)
CASES = {
    "bert-tiny": (
        "bert-tiny",
        None,
        "CLUECorpusSmall_bert_sampled.txt",
        "bert",
        128,
        [],
        "mlm/loss",
    ),
    "lstm": ("lstm", "lm:1", "CLUECorpusSmall_sampled.txt", "lm", 64, [], "lm/loss"),
    "gatedcnn": ("gatedcnn", "lm:1", "CLUECorpusSmall_sampled.txt", "lm", 64, [], "lm/loss"),
    "elmo": ("elmo", "bilm:1", "CLUECorpusSmall_sampled.txt", "bilm", 64, [], "bilm/loss"),
    "cove": (
        "cove",
        "mt:1",
        "news-commentary-v13-en-zh_sampled.txt",
        "mt",
        64,
        ["--tgt-tokenizer", "wordpiece", "--tgt-vocab", str(ZH_VOCAB)],
        "mt/loss",
    ),
    "transformer": (
        "bert-tiny",
        "mlm:1,cls:1",
        "book_review_cls.txt",
        "cls_mlm",
        128,
        [],
        "mlm/loss",
    ),
    # stage 2 (UER): continue the bert-tiny case's model on the downstream corpus (--init)
    "stage2": (None, "mlm:1,cls:1", "book_review_cls.txt", "cls_mlm", 128, [], "mlm/loss"),
}


def _run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)


def shards_for(case: str, work: Path) -> Path:
    _, _, corpus, processor, seq, extra, _ = CASES[case]
    vocab = EN_VOCAB if case == "cove" else ZH_VOCAB
    out = work / "shards" / f"{processor}-{Path(corpus).stem}-{seq}"
    if not (out / "manifest.json").exists():
        _run(
            [
                sys.executable,
                "run.py",
                "preprocess",
                "--corpus",
                str(DATA / "corpora" / corpus),
                "--processor",
                processor,
                "--tokenizer",
                "wordpiece",
                "--vocab",
                str(vocab),
                "--seq-length",
                str(seq),
                "--out",
                str(out),
                *extra,
            ]
        )
    return out


def run_case(case: str, work: Path, steps: int, workers: int, batch: int) -> dict:
    model, targets, *_, loss_key = CASES[case]
    out = work / "runs" / case
    cmd = [
        sys.executable,
        "run.py",
        "pretrain",
        "--model",
        model,
        "--data",
        str(shards_for(case, work)),
        "--out",
        str(out),
        "--workers",
        str(workers),
        "--vocab",
        str(EN_VOCAB if case == "cove" else ZH_VOCAB),
        "--steps",
        str(steps),
        "--batch-size",
        str(batch),
        "--lr",
        "1e-3",
        "--log-every",
        str(max(1, steps // 20)),
        "--save-every",
        str(max(1, steps // 2)),
        "--overwrite",
        "--wandb-mode",
        "disabled",
    ]
    if targets:
        cmd += ["--targets", targets]
    if model is None:  # stage 2: the architecture and weights of the bert-tiny case
        cmd[cmd.index("--model") : cmd.index("--model") + 2] = [
            "--init",
            str(work / "runs" / "bert-tiny" / "final"),
        ]
    t0 = time.time()
    _run(cmd)
    return check(case, out, loss_key, time.time() - t0)


def check(case: str, out: Path, loss_key: str, wall: float) -> dict:
    sys.path.insert(0, str(REPO))
    from uer_ray.models import load_model
    from uer_ray.tracking import read_metrics

    records = read_metrics(out / "metrics.jsonl")
    head = sum(r[loss_key] for r in records[:3]) / min(3, len(records))
    tail = sum(r[loss_key] for r in records[-3:]) / min(3, len(records))
    model = load_model(out / "final")
    return {
        "case": case,
        "steps": records[-1]["step"],
        "loss_key": loss_key,
        "loss_start": round(head, 4),
        "loss_end": round(tail, 4),
        "falls": tail < head,
        "tokens_per_s": round(records[-1]["tokens_per_s"]),
        "wall_s": round(wall),
        "loads": model is not None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16, help="rows per worker")
    ap.add_argument("--only", nargs="+", choices=sorted(CASES), default=list(CASES))
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "matrix")
    args = ap.parse_args()
    rows = []
    for case in args.only:
        try:
            rows.append(run_case(case, args.work, args.steps, args.workers, args.batch_size))
        except subprocess.CalledProcessError as e:
            rows.append({"case": case, "error": f"exit {e.returncode}"})
        print(json.dumps(rows[-1]), flush=True)
    (args.work / "matrix.json").write_text(json.dumps(rows, indent=2))
    print(
        f"{'case':<12} {'steps':>5} {'loss':>10} {'start':>8} {'end':>8} {'falls':>6} "
        f"{'tok/s':>7} {'wall s':>7} loads"
    )
    for r in rows:
        if "error" in r:
            print(f"{r['case']:<12} FAILED ({r['error']})")
            continue
        print(
            f"{r['case']:<12} {r['steps']:>5} {r['loss_key']:>10} {r['loss_start']:>8} "
            f"{r['loss_end']:>8} {str(r['falls']):>6} {r['tokens_per_s']:>7} {r['wall_s']:>7} "
            f"{r['loads']}"
        )
    return 0 if all(r.get("falls") and r.get("loads") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
