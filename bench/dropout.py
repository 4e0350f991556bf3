"""Dropout on CPU: ``uer_ray.layers.dropout`` (mask from 16-bit lanes of 64-bit random words)
against ``torch.nn.functional.dropout`` (``bernoulli_``), alone and inside a training step.

    .venv/bin/python bench/dropout.py [--rounds 4] [--threads N]

1. forward + backward of dropout(p=0.1) on a (32, 4, 128, 128) tensor (bert-mini's attention
   probabilities for a 32 × 128 batch);
2. one bert-mini training step (MLM + SP, batch 32 × 128, as in ``bench/model_step.py``) with
   every uer_ray dropout call site switched to one implementation or the other.
The two are alternated in rounds inside one process; the table gives medians in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import model_step  # noqa: E402

from uer_ray.layers import dropout as lane_dropout_module  # noqa: E402

LANES = lane_dropout_module.dropout


def torch_dropout(x, p, training=True):
    return F.dropout(x, p, training) if p else x


def use(impl) -> None:
    """Point every loaded uer_ray module that imported the lane dropout at ``impl``."""
    for name, mod in list(sys.modules.items()):
        if not name.startswith("uer_ray.") or mod is lane_dropout_module:
            continue
        for attr in ("dropout", "drop"):
            if getattr(mod, attr, None) in (LANES, torch_dropout):
                setattr(mod, attr, impl)


def time_it(fn, n: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--threads", type=int)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    x = torch.randn(32, 4, 128, 128, requires_grad=True)
    batch = model_step.make_batch(32, 128, 21128)
    step = model_step.ours_step("bert-mini", batch, 21128, False)
    impls = {"F.dropout": torch_dropout, "uer_ray lanes": LANES}
    op = {k: [] for k in impls}
    full = {k: [] for k in impls}
    for _ in range(args.rounds):
        for name, impl in impls.items():
            op[name].append(time_it(lambda impl=impl: impl(x, 0.1).sum().backward(), 15))
            use(impl)
            full[name].append(time_it(step, 3))
    use(LANES)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; medians of "
          f"{args.rounds} rounds, milliseconds")
    print(f"{'implementation':<16} {'dropout fwd+bwd':>16} {'bert-mini step':>15}")
    for name in impls:
        print(f"{name:<16} {statistics.median(op[name]):>16.1f} "
              f"{statistics.median(full[name]):>15.0f}")
    a, b = (statistics.median(op[k]) for k in impls)
    c, d = (statistics.median(full[k]) for k in impls)
    print(f"lanes / F.dropout: {b / a:.2f} (op), {d / c:.2f} (step)")


if __name__ == "__main__":
    main()
