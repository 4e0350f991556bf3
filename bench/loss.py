"""The prediction targets' loss on the CPU: ``prediction_loss`` (one exponential per logit,
accuracy from the row maxima) against ``F.cross_entropy`` + ``argmax``, the code it replaced,
forward and backward on random logits of a bert-tiny MLM batch's size.

    .venv/bin/python bench/loss.py [--rows 500] [--vocab 21128] [--repeats 30]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from uer_ray.targets.base import prediction_loss  # noqa: E402


def reference(logits, labels):
    loss = F.cross_entropy(logits, labels, reduction="sum") / labels.shape[0]
    with torch.no_grad():
        accuracy = (logits.argmax(-1) == labels).float().mean()
    return loss, accuracy


def ours(logits, labels):
    out = prediction_loss(logits, labels)
    return out.loss, out.metrics["accuracy"]


def timed(fn, logits, labels, repeats: int) -> float:
    def once():
        loss, _ = fn(logits, labels)
        loss.backward()
        logits.grad = None

    once()
    start = time.perf_counter()
    for _ in range(repeats):
        once()
    return (time.perf_counter() - start) / repeats * 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=500, help="masked positions")
    p.add_argument("--vocab", type=int, default=21128)
    p.add_argument("--repeats", type=int, default=30)
    args = p.parse_args()
    torch.manual_seed(0)
    logits = torch.randn(args.rows, args.vocab, requires_grad=True)
    labels = torch.randint(0, args.vocab, (args.rows,))
    grads = []
    for fn in (reference, ours):
        loss, _ = fn(logits, labels)
        loss.backward()
        grads.append(logits.grad)
        logits.grad = None
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, logits {args.rows} x "
          f"{args.vocab}; max |gradient difference| {(grads[0] - grads[1]).abs().max():.1e}")
    for rnd in range(2):  # alternating, since this machine's speed drifts
        ref, new = timed(reference, logits, labels, args.repeats), timed(ours, logits, labels, args.repeats)
        print(f"round {rnd + 1}: F.cross_entropy + argmax {ref:6.1f} ms   prediction_loss "
              f"{new:6.1f} ms   {ref / new:4.2f}x")


if __name__ == "__main__":
    main()
