"""The transformer's row savings against computing every row, on real batches.

``uer_ray.layers.packing``: the per-token work of each block (projections, feed-forward,
LayerNorm, dropout) runs on the real tokens only ("packed"), and in training the last block's
output only at the rows the targets read ("read rows": mlm's masked positions, sp's position 0).
This script times a bert-tiny / bert-mini training step (MLM + SP, batch 32 × 128 of
CLUECorpusSmall, bert processor, ~23% padding) with every row, packed, and packed + read rows,
and transformers' BertForPreTraining on the same batches, in alternating rounds in one process
so that a busy machine slows all alike; the table gives median real tokens/s.

    .venv/bin/python bench/packing.py [--models bert-tiny bert-mini] [--rounds 5] [--steps 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pretrain import hf_step, load_batches, make_shards, ours_step, time_loop  # noqa: E402

from uer_ray.layers import packing  # noqa: E402

VARIANTS = {  # name: (packing's MIN_PADDING_SHARE, Model.read_rows_only); a share above 1 never packs
    "all rows": (1.1, False),
    "packed": (None, False),
    "packed+read": (None, True),
}


def measure(preset: str, batches, tok, rounds: int, steps: int, warmup: int) -> dict:
    ours, model = ours_step(preset, tok)
    hf, convert = hf_step(preset, tok)
    hf_batches = [convert(b) for b in batches]
    share = packing.MIN_PADDING_SHARE
    speeds: dict[str, list[float]] = {name: [] for name in [*VARIANTS, "transformers"]}
    for r in range(-1, rounds):  # round -1 warms up
        chunk = slice(0, warmup) if r < 0 else slice(warmup + r * steps, warmup + (r + 1) * steps)
        for name, (min_share, read_rows) in VARIANTS.items():
            packing.MIN_PADDING_SHARE = share if min_share is None else min_share
            model.read_rows_only = read_rows
            speed = time_loop(ours, batches[chunk], 0)
            if r >= 0:
                speeds[name].append(speed)
        speed = time_loop(hf, hf_batches[chunk], 0)
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
    names = [*VARIANTS, "transformers"]
    head = ["model", "padding", *names, *(f"{n}/HF" for n in VARIANTS)]
    print(" | ".join(f"{h:>14}" for h in head))
    for r in rows:
        cells = [r["model"], f"{r['padding']:.1%}", *(f"{r[n]:.0f}" for n in names),
                 *(f"{r[n] / r['transformers']:.2f}x" for n in VARIANTS)]
        print(" | ".join(f"{c:>14}" for c in cells))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
