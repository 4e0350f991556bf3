"""Packed (padding-free) transformer rows against the padded computation, on real batches.

The transformer runs its per-token work (projections, feed-forward, LayerNorm, dropout) on the
real tokens only (``uer_ray.layers.packing``). This script times a bert-tiny / bert-mini training
step (MLM + SP, batch 32 × 128 of CLUECorpusSmall, bert processor, ~22% padding) with packing on
and off, and transformers' BertForPreTraining on the same batches, in alternating rounds in one
process so that a busy machine slows all alike; the table gives median real tokens/s.

    .venv/bin/python bench/packing.py [--models bert-tiny bert-mini] [--rounds 5] [--steps 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pretrain import hf_step, load_batches, make_shards, ours_step  # noqa: E402

from uer_ray.layers import packing  # noqa: E402


def timed(step, batches) -> float:
    """Real tokens/s over ``batches``."""
    tokens = sum(int((b["segment_ids"] != 0).sum()) for b in batches)
    t0 = time.perf_counter()
    for b in batches:
        step(b)
    return tokens / (time.perf_counter() - t0)


def measure(preset: str, batches, tok, rounds: int, steps: int, warmup: int) -> dict:
    ours = ours_step(preset, tok)
    hf, convert = hf_step(preset, tok)
    hf_batches = [convert(b) for b in batches]
    share = packing.MIN_PADDING_SHARE
    min_share = {"packed": share, "padded": 1.1}  # a share above 1 never packs
    speeds: dict[str, list[float]] = {"packed": [], "padded": [], "transformers": []}
    for r in range(-1, rounds):  # round -1 warms up
        chunk = slice(0, warmup) if r < 0 else slice(warmup + r * steps, warmup + (r + 1) * steps)
        for name, value in min_share.items():
            packing.MIN_PADDING_SHARE = value
            speed = timed(ours, batches[chunk])
            if r >= 0:
                speeds[name].append(speed)
        speed = timed(hf, hf_batches[chunk])
        if r >= 0:
            speeds["transformers"].append(speed)
    packing.MIN_PADDING_SHARE = share
    padding = 1 - sum(int((b["segment_ids"] != 0).sum()) for b in batches) / sum(
        b["segment_ids"].numel() for b in batches
    )
    return {"model": preset, "padding": padding, **{k: statistics.median(v) for k, v in speeds.items()}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["bert-tiny", "bert-mini"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=4, help="steps per variant per round")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--data", type=Path, help="existing bert shards (seq 128)")
    ap.add_argument("--json", type=Path, help="also write the table here")
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    tmp = tempfile.TemporaryDirectory()
    shards = args.data or make_shards(Path(tmp.name) / "shards")
    rows = []
    for preset in args.models:
        batches, tok = load_batches(shards, args.warmup + args.rounds * args.steps)
        rows.append(measure(preset, batches, tok, args.rounds, args.steps, args.warmup))
    print(f"median real tokens/s over {args.rounds} alternating rounds of {args.steps} steps "
          "(batch 32 x 128 of CLUECorpusSmall; MLM + SP; fp32, this machine)")
    head = ["model", "padding", "packed", "padded", "transformers", "packed/padded", "packed/HF",
            "padded/HF"]
    print(" | ".join(f"{h:>13}" for h in head))
    for r in rows:
        cells = [r["model"], f"{r['padding']:.1%}", f"{r['packed']:.0f}", f"{r['padded']:.0f}",
                 f"{r['transformers']:.0f}", f"{r['packed'] / r['padded']:.2f}",
                 f"{r['packed'] / r['transformers']:.2f}x", f"{r['padded'] / r['transformers']:.2f}x"]
        print(" | ".join(f"{c:>13}" for c in cells))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
