"""Scaling of bert-base pre-training on 1-64 GPUs, on paper: a stated cost model over stated
inputs, printed as the table of docs/cluster.md ("Scaling behaviour on paper").

    .venv/bin/python bench/scaling_model.py [--batch 64] [--seq 128] [--grad-accum 1]

Nothing here is measured on a GPU: there is none on the machines this was written on. What is
measured (2-core CPU, bench/results/) calibrates the FLOP model and the data path; the GPU,
interconnect and efficiency figures are published numbers or stated assumptions (HARDWARE).

Model, per optimiser step of one data-parallel worker (one GPU):

* compute = FLOPs per token x tokens per GPU / (peak x MFU); FLOPs per token of training
  = 6 N_encoder + 6 L T d (attention scores) + 6 V d p_mask (the MLM projection runs only at
  masked rows) + 6 N_heads, N counted on the real model (``build_model("bert-base")``);
* ring all-reduce of the gradients (DDP): 2 (n-1)/n x bytes / B + buckets x 2 (n-1) x alpha,
  with B the slowest link in the ring (NVLink/PCIe inside a node, the NIC between nodes) and
  DDP's 25 MB buckets each paying the ring's latency; the all-reduce overlaps the backward pass
  (2/3 of the compute), so only what exceeds it shows;
* data: each worker collates and masks its batches on one CPU thread (``prefetch_batches=1``
  keeps masking replayable); its measured tokens per CPU-second caps the tokens a GPU can get.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "bench" / "results"
BUCKET_BYTES = 25 * 2**20  # DDP's default bucket_cap_mb
BACKWARD_SHARE = 2 / 3  # of a step's compute, which the all-reduce can hide behind
GPU_COUNTS = (1, 2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class Hardware:
    """One node type. Figures are published specs (peak, links) or assumptions (MFU, busbw,
    latency): none is measured here."""

    name: str
    gpus_per_node: int
    peak_tflops: float  # dense bf16 tensor peak per GPU (published)
    mfu: float  # assumed model-FLOPs utilisation of a plain PyTorch BERT step
    intra_gbs: float  # assumed NCCL all-reduce bus bandwidth inside a node, GB/s
    inter_gbs: float  # NIC bandwidth per node, GB/s (published Gbit/s / 8)
    intra_alpha_us: float  # assumed latency per ring step inside a node
    inter_alpha_us: float  # assumed latency per ring step across nodes (TCP sockets)


HARDWARE = (
    Hardware("a2-highgpu-4g: 4x A100 40GB (NVLink), 50 Gbit/s", 4, 312, 0.40, 150, 50 / 8, 5, 25),
    Hardware("g5.12xlarge: 4x A10G (PCIe), 40 Gbit/s", 4, 70, 0.40, 12, 40 / 8, 8, 25),
)


def model_counts(preset: str, vocab: int) -> dict:
    """Parameter counts of the real model, by part."""
    from uer_ray import build_model, load_preset

    config = load_preset(preset)
    model = build_model(config, vocab_size=vocab)
    parts = {name: sum(p.numel() for p in m.parameters()) for name, m in model.named_children()}
    return {"config": config, "total": sum(p.numel() for p in model.parameters()), **parts}


def flops_per_token(counts: dict, seq: int, vocab: int, mask_prob: float = 0.15) -> float:
    c = counts["config"]
    layers, d = c["layers"], c["hidden_size"]
    heads_params = counts["targets"] - vocab  # the tied output bias is not a matmul
    return 6 * (counts["encoder"] + layers * seq * d + vocab * d * mask_prob + heads_params)


def allreduce_s(n: int, grad_bytes: float, hw: Hardware) -> float:
    """Ring all-reduce time of ``grad_bytes`` over ``n`` GPUs (0 for one GPU)."""
    if n == 1:
        return 0.0
    multi_node = n > hw.gpus_per_node
    bandwidth = (min(hw.intra_gbs, hw.inter_gbs) if multi_node else hw.intra_gbs) * 1e9
    alpha = (hw.inter_alpha_us if multi_node else hw.intra_alpha_us) * 1e-6
    buckets = math.ceil(grad_bytes / BUCKET_BYTES)
    return 2 * (n - 1) / n * grad_bytes / bandwidth + buckets * 2 * (n - 1) * alpha


def measured_cpu(counts_by_preset: dict, seq: int, vocab: int) -> list[dict]:
    """This machine's measured single-node tokens/s (bench/results/pretrain.json) and the CPU
    FLOP rate they imply under the same FLOP model: the model's sanity check."""
    rows = []
    for r in json.loads((RESULTS / "pretrain.json").read_text()):
        if r["model"] in counts_by_preset:
            f = flops_per_token(counts_by_preset[r["model"]], seq, vocab)
            rows.append({"model": r["model"], "tokens_per_s": r["bare"], "gflops": r["bare"] * f / 1e9})
    return rows


def ingest() -> dict | None:
    """bench/ingest.py's measurements: collation alone (tokens per CPU-second) and one worker's
    whole Ray Data ingest (wall tokens/s), the latter being the per-GPU cap applied here."""
    path = RESULTS / "ingest.json"
    return json.loads(path.read_text()) if path.exists() else None


def table(hw: Hardware, f_token: float, grad_params: int, tokens: int, accum: int, collate: float | None) -> list[str]:
    compute = f_token * tokens * accum / (hw.peak_tflops * 1e12 * hw.mfu)
    lines = [f"{hw.name}; per GPU {tokens * accum} tokens per update, compute {compute * 1e3:.1f} ms"]
    lines.append(f"{'GPUs':>5} {'nodes':>5} {'AR fp32 ms':>10} {'AR bf16 ms':>10} {'exposed ms':>10} "
                 f"{'k tok/s fp32':>12} {'eff':>5} {'k tok/s bf16':>12} {'eff':>5}  limit (fp32 grads)")  # fmt: skip
    single = tokens * accum / compute
    for n in GPU_COUNTS:
        cells, limits = [], []
        for nbytes in (4, 2):
            ar = allreduce_s(n, grad_params * nbytes, hw)
            exposed = max(0.0, ar - BACKWARD_SHARE * compute)
            rate = n * tokens * accum / (compute + exposed)
            if collate is not None:
                rate = min(rate, n * collate)
            cells.append((ar, exposed, rate))
        ar32, exp32, rate32 = cells[0]
        ar16, _, rate16 = cells[1]
        if collate is not None and rate32 >= n * collate - 1e-6:
            limits.append("collation")
        if exp32 > 0:
            limits.append("network" if n > hw.gpus_per_node else "intra-node links")
        lines.append(
            f"{n:>5} {math.ceil(n / hw.gpus_per_node):>5} {ar32 * 1e3:>10.1f} {ar16 * 1e3:>10.1f} "
            f"{exp32 * 1e3:>10.1f} {rate32 / 1e3:>12.0f} {rate32 / (n * single):>5.2f} "
            f"{rate16 / 1e3:>12.0f} {rate16 / (n * single):>5.2f}  {', '.join(limits) or 'compute'}"
        )
    return lines


def accumulation_needed(hw: Hardware, f_token: float, grad_params: int, batch: int, seq: int,
                        target: float = 0.9) -> list[str]:
    """The smallest gradient accumulation k (micro-batches per all-reduce) that keeps the
    scaling efficiency at ``target``, with the global batch (sequences per update) it implies."""
    lines = [f"{hw.name}: accumulation k for {target:.0%} efficiency -> global batch in sequences"]
    for n in GPU_COUNTS[1:]:
        cells = []
        for nbytes, label in ((4, "fp32 grads"), (2, "bf16 grads")):
            for k in (1, 2, 4, 8, 16, 32, 64):
                compute = f_token * batch * seq * k / (hw.peak_tflops * 1e12 * hw.mfu)
                exposed = max(0.0, allreduce_s(n, grad_params * nbytes, hw) - BACKWARD_SHARE * compute)
                if compute / (compute + exposed) >= target:
                    cells.append(f"{label}: k={k:<2} -> {n * k * batch:>6}")
                    break
            else:
                cells.append(f"{label}: k>64")
        lines.append(f"{n:>5} GPUs   " + "   ".join(cells))
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=64, help="rows per GPU per micro-batch (the docs' --batch-size)")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--grad-accum", type=int, default=1)
    ap.add_argument("--vocab", type=int, default=21128, help="google_zh_vocab.txt")
    args = ap.parse_args()
    counts = {p: model_counts(p, args.vocab) for p in ("bert-tiny", "bert-mini", "bert-base")}
    base = counts["bert-base"]
    f_token = flops_per_token(base, args.seq, args.vocab)
    print(f"bert-base: {base['total'] / 1e6:.1f} M parameters (encoder {base['encoder'] / 1e6:.1f} M), "
          f"{f_token / 1e6:.0f} MFLOP per token of training at seq {args.seq}; gradients "
          f"{base['total'] * 4 / 2**20:.0f} MiB fp32, {base['total'] * 2 / 2**20:.0f} MiB bf16")  # fmt: skip
    for row in measured_cpu(counts, args.seq, args.vocab):
        print(f"measured here (2-core CPU, fp32): {row['model']} {row['tokens_per_s']:.0f} tokens/s "
              f"= {row['gflops']:.0f} GFLOP/s under this FLOP model")  # fmt: skip
    measured = ingest()
    collate = measured["ray_data"]["tokens_per_s"] if measured else None
    if measured:
        print(f"data path (measured here, bench/ingest.py): collation alone "
              f"{measured['collate_only']['tokens_per_cpu_s'] / 1e6:.2f} M tokens per CPU-second; "
              f"one worker's Ray Data ingest {collate / 1e6:.2f} M tokens/s (the per-GPU cap below)")
    else:
        print("data path not measured (run bench/ingest.py): no data limit applied")
    a100 = HARDWARE[0]
    for name in ("bert-tiny", "bert-mini", "bert-base"):
        f = flops_per_token(counts[name], args.seq, args.vocab)
        rate = a100.peak_tflops * 1e12 * a100.mfu / f
        bound = "data-bound" if collate and rate > collate else "compute-bound"
        print(f"  {name}: {rate / 1e6:.2f} M tokens/s per A100 at {a100.mfu:.0%} MFU -> {bound}")
    for hw in HARDWARE:
        print()
        print("\n".join(table(hw, f_token, base["total"], args.batch * args.seq, args.grad_accum, collate)))
    for hw in HARDWARE:
        print()
        print("\n".join(accumulation_needed(hw, f_token, base["total"], args.batch, args.seq)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
