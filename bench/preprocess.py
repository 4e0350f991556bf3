"""Data-pipeline throughput: ``preprocess`` (mlm, WordPiece, Chinese vocab) end to end against
the bare tokenizer, on CLUECorpusSmall_sampled.txt repeated 20x (about 39 MB).

    .venv/bin/python bench/preprocess.py [--repeat 20] [--seq-length 128] [--workers N]

Prints a table: wall time, tokens/s and CPU time for (a) ``Tokenizer.encode_flat`` on every line
in this one process, (b) the Rust ``tokenizers`` WordPiece pipeline alone (``encode_batch_fast``)
on one copy of the corpus, for reference, and (c) the whole ``preprocess`` run on Ray Data (read,
tokenise, pack, write Parquet + manifest), once with cold and once with warm Ray workers; the Ray
start-up is timed apart. The ratio row is (c) over (a). Tokens are tokenizer output tokens, the
same count for every row. On a shared machine wall times are noisy; CPU seconds less so.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=str(DATA / "corpora" / "CLUECorpusSmall_sampled.txt"))
    ap.add_argument("--vocab", default=str(DATA / "vocab" / "google_zh_vocab.txt"))
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--seq-length", type=int, default=128)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()

    from uer_ray.cluster import ensure_ray
    from uer_ray.data import ProcessorConfig, preprocess
    from uer_ray.tokenizers import build_tokenizer

    text = Path(args.corpus).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="uer-ray-bench-") as work:
        big = Path(work) / "corpus.txt"
        with open(big, "w", encoding="utf-8") as f:
            for _ in range(args.repeat):
                f.write(text if text.endswith("\n") else text + "\n")
        lines = big.read_text(encoding="utf-8").split("\n")[:-1]
        mb = big.stat().st_size / 2**20

        tok = build_tokenizer("wordpiece", vocab=args.vocab)
        tok.encode_flat(["warm up"])  # lookup tables, as preprocess builds them before timing
        t, c = time.perf_counter(), time.process_time()
        flat, _ = tok.encode_flat(lines)
        bare = (time.perf_counter() - t, time.process_time() - c)
        n_tokens = len(flat)

        one = lines[: len(lines) // args.repeat]
        t, c = time.perf_counter(), time.process_time()
        rust_tokens = sum(len(e.ids) for e in tok._rust.encode_batch_fast(one, add_special_tokens=False))
        rust = (time.perf_counter() - t, time.process_time() - c)

        t = time.perf_counter()
        ensure_ray()
        ray_s = time.perf_counter() - t
        runs = []
        for _ in range(2):  # first run starts Ray's worker processes, second finds them warm
            t, c = time.perf_counter(), time.process_time()
            m = preprocess([big], Path(work) / "shards", processor="mlm", tokenizer=tok,
                           config=ProcessorConfig(seq_length=args.seq_length), workers=args.workers,
                           progress=False)
            runs.append((time.perf_counter() - t, time.process_time() - c + m["task_cpu_seconds"]))

    shape = f"{m['instances']} rows, {len(m['shards'])} shards"
    rows = [
        ("tokenizer encode_flat, 1 process", *bare, n_tokens),
        ("Rust tokenizers encode_batch_fast, 1x corpus (reference)", *rust, rust_tokens),
        (f"preprocess mlm end to end, cold workers ({shape})", *runs[0], n_tokens),
        ("preprocess mlm end to end, warm workers", *runs[1], n_tokens),
    ]
    print(f"\ncorpus: {Path(args.corpus).name} x{args.repeat} = {mb:.1f} MB, {len(lines)} lines, "
          f"{n_tokens} tokens; seq_length {args.seq_length}; {os.cpu_count()} cores; "
          f"Ray start-up {ray_s:.1f} s (not counted); load average {os.getloadavg()[0]:.1f}\n")
    print("| what | wall s | tokens/s | CPU s (all processes) | tokens per CPU-s |")
    print("|---|---:|---:|---:|---:|")
    for name, wall, cpu, n in rows:
        print(f"| {name} | {wall:.2f} | {n / wall / 1e6:.2f} M | {cpu:.2f} | {n / cpu / 1e6:.2f} M |")
    bare_rate = n_tokens / bare[0]
    print(f"| end to end / bare tokenizer (wall tokens/s) | | cold {n_tokens / runs[0][0] / bare_rate:.0%}, "
          f"warm {n_tokens / runs[1][0] / bare_rate:.0%} | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
