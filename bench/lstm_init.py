"""The word-table initialisation of the recurrent presets: the `lstm` preset as a character
language model, with the word table drawn from N(0, 0.02) (BERT's) and from N(0, 1.0) (what the
recurrent presets use, ``embedding_options.init_std``), same seed, same batches.

    .venv/bin/python bench/lstm_init.py [--steps 80] [--shards runs/bench_book_review/shards]

The shards are the `lm` shards of the book-review texts that ``bench/finetune_book_review.py``
makes (stage `preprocess`). Prints the LM loss every 20 steps for both; no Ray (a bare loop).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from uer_ray.data import Collator, read_manifest, shard_files  # noqa: E402
from uer_ray.models import build_model, load_preset  # noqa: E402
from uer_ray.train.optim import build_optimizer  # noqa: E402


def losses(rows: list, vocab_size: int, init_std: float, steps: int, every: int) -> list[float]:
    cfg = load_preset("lstm")
    cfg["targets"] = {"lm": 1.0}
    cfg["embedding_options"] = {**cfg.get("embedding_options", {}), "init_std": init_std}
    torch.manual_seed(0)
    model = build_model(cfg, vocab_size=vocab_size).train()
    opt = build_optimizer(model, lr=1e-3, weight_decay=0.01)
    collate, rng, out = Collator(0), np.random.default_rng(0), []
    for step in range(1, steps + 1):
        batch = collate([{"input_ids": rows[i]} for i in rng.integers(0, len(rows), 32)])
        loss = model(batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step % every == 0:
            out.append(round(loss.item(), 3))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--every", type=int, default=20)
    ap.add_argument("--shards", type=Path, default=REPO / "runs/bench_book_review/shards")
    args = ap.parse_args()
    if not (args.shards / "manifest.json").exists():
        raise SystemExit(f"{args.shards}: no shards; run bench/finetune_book_review.py "
                         "--stages vocab,preprocess first")
    import pyarrow.parquet as pq

    manifest = read_manifest(args.shards)
    rows = pq.read_table(shard_files(args.shards, manifest)).column("input_ids").to_pylist()
    vocab_size = manifest["tokenizer"]["size"]
    print(f"lstm preset, lm target, batch 32 x {manifest['seq_length']}, lr 1e-3, "
          f"{len(rows)} rows, vocabulary {vocab_size}; LM loss at steps "
          f"{list(range(args.every, args.steps + 1, args.every))}")
    for std in (0.02, 1.0):
        print(f"init_std {std:<5}", losses(rows, vocab_size, std, args.steps, args.every), flush=True)


if __name__ == "__main__":
    main()
