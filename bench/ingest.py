"""How fast the data path feeds a training worker, without a model: the input side of
``bench/scaling_model.py``.

    .venv/bin/python bench/ingest.py [--shards DIR] [--batches 200] [--json bench/results/ingest.json]

(a) ``Collator`` alone (pad + dynamic MLM masking, what every batch costs), timed with the
thread's CPU clock over shard rows already in memory: CPU seconds per token of collation.
(b) The real ingest of a worker: ``ray.data.read_parquet`` streamed through
``iter_torch_batches(collate_fn=RayCollateFn)`` on an embedded Ray with 2 logical CPUs, one
consumer, as ``uer_ray.train.batches`` does it: wall tokens/s, read tasks and collation sharing
this machine's cores. Without ``--shards`` the shards are made from the bundled sample corpus
(char vocabulary, mlm processor, 128 tokens). Tokens are non-padding tokens.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SAMPLE = REPO / "uer_ray" / "samples" / "book_review" / "corpus.txt"


def make_shards(root: Path) -> Path:
    """Sample corpus x4 -> char vocab -> mlm shards of 128 tokens, with the real commands."""
    corpus = root / "corpus.txt"
    corpus.write_text(SAMPLE.read_text(encoding="utf-8") * 4, encoding="utf-8")
    run = [sys.executable, str(REPO / "run.py")]
    vocab = root / "vocab.txt"
    for argv in (
        ["vocab", "--corpus", corpus, "--tokenizer", "char", "--size", "6000", "--out", vocab],
        ["preprocess", "--corpus", corpus, "--processor", "mlm", "--tokenizer", "char",
         "--vocab", vocab, "--seq-length", "128", "--out", root / "shards", "--no-progress"],
    ):  # fmt: skip
        subprocess.run([*run, *map(str, argv)], check=True, capture_output=True)
    return root / "shards"


def collator_for(shards: Path):
    from uer_ray.data import Collator, MaskingConfig
    from uer_ray.tokenizers import load_tokenizer

    tokenizer = load_tokenizer(shards / "tokenizer")
    return Collator.from_tokenizer(tokenizer, masking=MaskingConfig(prob=0.15, strategy="token"))


def collate_only(shards: Path, batch: int, batches: int) -> dict:
    """CPU seconds per token of the Collator alone, on rows held in memory."""
    import pyarrow.parquet as pq

    table = pq.read_table(sorted(shards.glob("*.parquet")))
    rows = table.to_pydict()
    collator = collator_for(shards)
    n, tokens, cpu = len(rows["input_ids"]), 0, 0.0
    for i in range(batches):
        lo = (i * batch) % max(1, n - batch)
        part = {k: v[lo : lo + batch] for k, v in rows.items()}
        start = time.thread_time()
        out = collator(part)
        cpu += time.thread_time() - start
        tokens += int((out["segment_ids"] != 0).sum())
    return {"tokens": tokens, "cpu_s": cpu, "tokens_per_cpu_s": tokens / cpu}


def ray_ingest(shards: Path, batch: int, batches: int) -> dict:
    """Wall tokens/s of one consumer of a streaming Ray Data read with the Collator."""
    import ray
    import ray.data

    from uer_ray.data.collate import RayCollateFn

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        files = [str(p) for p in sorted(shards.glob("*.parquet"))]
        collate = RayCollateFn(collator_for(shards))
        tokens, seen, start = 0, 0, None
        while seen < batches:
            ds = ray.data.read_parquet(files)
            for out in ds.iter_torch_batches(batch_size=batch, collate_fn=collate, prefetch_batches=1):
                if start is None:  # the first batch pays the read start-up: not counted
                    start = time.perf_counter()
                    continue
                tokens += int((out["segment_ids"] != 0).sum())
                seen += 1
                if seen >= batches:
                    break
        wall = time.perf_counter() - start
    finally:
        ray.shutdown()
    return {"tokens": tokens, "wall_s": wall, "tokens_per_s": tokens / wall, "ray_cpus": 2}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shards", type=Path)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        shards = args.shards or make_shards(Path(tmp))
        result = {
            "batch_size": args.batch_size,
            "load_average": os.getloadavg()[0],
            "collate_only": collate_only(shards, args.batch_size, args.batches),
            "ray_data": ray_ingest(shards, args.batch_size, args.batches),
        }
    c, r = result["collate_only"], result["ray_data"]
    print(f"collate only: {c['tokens_per_cpu_s']:,.0f} tokens per CPU-second ({c['tokens']} tokens)")
    print(f"Ray Data read + collate, one consumer, 2 logical CPUs: {r['tokens_per_s']:,.0f} tokens/s")
    print(f"load average at start: {result['load_average']:.1f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
