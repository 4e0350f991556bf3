"""Benchmark: when does BERT-tiny's masked LM leave the unigram plateau, seed by seed?

    .venv/bin/python bench/mlm_plateau.py [--seeds 7,8,9] [--steps 2000] [--shards DIR]

MLM on the bundled CLUECorpusSmall sample (``recipes/clue_small.yaml``'s corpus and character
vocabulary, windows of 128) with the recipe's BERT-tiny settings — batch 32, lr 1e-3, 5 %
warm-up, linear decay over ``--steps``, clipping at 1, the default optimiser — in one process
per seed, without Ray: the platform's model, collator, optimiser and schedule, rows drawn in a
shuffled order per epoch. Prints the loss every ``--log-every`` steps and, per seed, the first
logged step whose loss is 0.3 below the plateau (the median of the losses logged from step
``--log-every`` to 300). The shards are made once under ``--out`` unless ``--shards`` names a
folder of ``preprocess --processor mlm`` shards. Seeds run one after another (``--threads``
each); run several invocations side by side to use more cores.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CLUE = REPO / "uer_ray" / "samples" / "clue"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="7,8,9")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--shards", help="mlm shards of the CLUE sample (default: made under --out)")
    p.add_argument("--out", default=str(REPO / "runs" / "bench_mlm_plateau"))
    return p.parse_args()


def shards(args) -> Path:
    if args.shards:
        return Path(args.shards)
    folder = Path(args.out) / "shards"
    if not (folder / "manifest.json").exists():
        from uer_ray.data import ProcessorConfig, preprocess
        from uer_ray.tokenizers import build_tokenizer

        preprocess([CLUE / "CLUECorpusSmall_sampled.txt"], folder, processor="mlm",
                   tokenizer=build_tokenizer("char", vocab=str(CLUE / "zh_char_vocab.txt")),
                   config=ProcessorConfig(seq_length=128), progress=False)
    return folder


def run(seed: int, folder: Path, args) -> list[tuple[int, float]]:
    import pyarrow.parquet as pq
    import torch

    from uer_ray.data import Collator, MaskingConfig
    from uer_ray.models import build_model, load_preset
    from uer_ray.tokenizers import load_tokenizer
    from uer_ray.train.optim import build_optimizer, build_scheduler

    tok = load_tokenizer(folder / "tokenizer")
    rows = pq.read_table(sorted(folder.glob("*.parquet"))).to_pylist()
    torch.manual_seed(seed)
    order_rng = random.Random(seed)
    config = load_preset("bert-tiny")
    config["targets"] = {"mlm": 1.0}
    model = build_model(config, vocab_size=tok.vocab_size, pad_id=tok.pad_id)
    collator = Collator.from_tokenizer(tok, masking=MaskingConfig(prob=0.15), seed=seed, rank=0)
    optimizer = build_optimizer(model, lr=args.lr, weight_decay=0.01)
    scheduler = build_scheduler(optimizer, kind="linear", warmup_steps=int(0.05 * args.steps),
                                total_steps=args.steps)
    model.train()
    order: list[int] = []
    log = []
    for step in range(args.steps):
        if len(order) < 32:
            fresh = list(range(len(rows)))
            order_rng.shuffle(fresh)
            order += fresh
        picked, order = order[:32], order[32:]
        collator.step = step
        batch = collator([{"input_ids": rows[i]["input_ids"], "segment_ids": rows[i]["segment_ids"]}
                          for i in picked])
        out = model(batch)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if step % args.log_every == 0 or step == args.steps - 1:
            log.append((step, round(float(out.metrics["loss"]), 3)))
            print(f"seed {seed} step {step} loss {log[-1][1]}", flush=True)
    return log


def left_plateau(log: list[tuple[int, float]], every: int) -> int | None:
    """The first logged step whose loss is 0.3 below the plateau (the median of the losses
    logged from ``every`` to 300 steps); None when none is."""
    plateau = statistics.median(loss for step, loss in log if every <= step <= 300)
    return next((step for step, loss in log if step > 300 and loss < plateau - 0.3), None)


def main() -> None:
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    folder = shards(args)
    results = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        start = time.perf_counter()
        log = run(seed, folder, args)
        results[seed] = {"log": log, "left_at": left_plateau(log, args.log_every),
                         "seconds": round(time.perf_counter() - start)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(f"\nBERT-tiny MLM on the CLUE sample, batch 32 x 128, lr {args.lr:g}, {args.steps} steps")
    print("| seed | loss at 500 | loss at the end | left the plateau at step | s |")
    print("|---:|---:|---:|---|---:|")
    for seed, r in results.items():
        at = dict(r["log"])
        print(f"| {seed} | {at.get(500, float('nan')):.3f} | {r['log'][-1][1]:.3f} | "
              f"{r['left_at'] if r['left_at'] is not None else 'not'} | {r['seconds']} |")


if __name__ == "__main__":
    main()
