"""Pre-training throughput: uer_ray through Ray (1 and 2 workers), the same model in a bare
in-process loop over the same batches, and transformers' BertForPreTraining.

    python bench/pretrain.py [--models bert-tiny bert-mini] [--steps 60] [--data SHARDS]

Batches are 32 rows × 128 tokens of CLUECorpusSmall (bert processor: MLM + SP), shards made with
``run.py preprocess`` unless --data names some. The bare loop runs before and after each Ray run
and the Ray/bare ratio uses the two runs around it, since the machine's speed drifts. Tokens/s
counts real (non-padding) tokens and skips the first steps (start-up, allocator warm-up); for the
Ray path it is the mean of the ``tokens_per_s`` lines in metrics.jsonl after the first logging
window, i.e. after start-up.
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

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CORPUS = REPO.parent / "shared/data/corpora/CLUECorpusSmall_bert_sampled.txt"
VOCAB = REPO.parent / "shared/data/vocab/google_zh_vocab.txt"
BATCH, SEQ = 32, 128


def make_shards(out: Path) -> Path:
    cmd = [
        sys.executable,
        str(REPO / "run.py"),
        "preprocess",
        "--corpus",
        str(CORPUS),
        "--processor",
        "bert",
        "--tokenizer",
        "wordpiece",
        "--vocab",
        str(VOCAB),
        "--seq-length",
        str(SEQ),
        "--out",
        str(out),
    ]
    subprocess.run(cmd, check=True, cwd=REPO)
    return out


def load_batches(shards: Path, n: int) -> tuple[list[dict], object]:
    """``n`` collated, masked batches of BATCH rows (cycled if the shards are smaller)."""
    import pyarrow.parquet as pq

    from uer_ray.data import Collator, MaskingConfig, shard_files
    from uer_ray.tokenizers import build_tokenizer

    tok = build_tokenizer("wordpiece", vocab=VOCAB)
    table = pq.read_table(shard_files(shards))
    rows = table.select(["input_ids", "segment_ids", "is_next"]).to_pylist()
    collator = Collator.from_tokenizer(tok, masking=MaskingConfig(), seed=1)
    batches = []
    for i in range(n):
        start = (i * BATCH) % max(1, len(rows) - BATCH)
        batches.append(collator(rows[start : start + BATCH]))
    return batches, tok


def time_loop(step_fn, batches, warmup: int) -> float:
    """Real tokens per second over ``batches[warmup:]``."""
    for b in batches[:warmup]:
        step_fn(b)
    tokens, t0 = 0, time.perf_counter()
    for b in batches[warmup:]:
        step_fn(b)
        tokens += int((b["segment_ids"] != 0).sum())
    return tokens / (time.perf_counter() - t0)


def ours_step(preset: str, tok):
    """A training step (forward, backward, clip, fused AdamW) of the uer_ray preset, and the
    model it trains."""
    from uer_ray.models import build_model, load_preset
    from uer_ray.train.optim import build_optimizer

    torch.manual_seed(0)
    model = build_model(load_preset(preset), vocab_size=tok.vocab_size).train()
    opt = build_optimizer(model, lr=1e-4)

    def step(b):
        out = model(b)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step, model


def hf_step(preset: str, tok):
    """The same step for transformers' BertForPreTraining of the preset's sizes, and the batch
    conversion it needs."""
    from transformers import BertConfig, BertForPreTraining

    from uer_ray.models import load_preset

    p = load_preset(preset)
    cfg = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=p["hidden_size"],
        num_hidden_layers=p["layers"],
        num_attention_heads=p["heads"],
        intermediate_size=p["ffn_size"],
        max_position_embeddings=p["max_seq_length"],
        type_vocab_size=2,
        layer_norm_eps=p["layernorm_eps"],
    )
    torch.manual_seed(0)
    model = BertForPreTraining(cfg).train()
    # fused AdamW on both sides (uer_ray's build_optimizer uses it), so the optimiser is not
    # what the ratio measures
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)

    def convert(b):  # BERT conventions: token types 0/1, NSP label 0 = real next sentence
        seg = b["segment_ids"]
        return {
            "input_ids": b["input_ids"],
            "token_type_ids": (seg - 1).clamp(min=0),
            "attention_mask": (seg != 0).long(),
            "labels": b["mlm_labels"],
            "next_sentence_label": 1 - b["is_next"],
            "segment_ids": seg,
        }

    def step(b):
        out = model(**{k: v for k, v in b.items() if k != "segment_ids"})
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step, convert


def bare_loop(preset: str, batches, tok, warmup: int) -> float:
    return time_loop(ours_step(preset, tok)[0], batches, warmup)


def hf_loop(preset: str, batches, tok, warmup: int) -> float:
    step, convert = hf_step(preset, tok)
    return time_loop(step, [convert(b) for b in batches], warmup)


def ray_path(preset: str, shards: Path, workers: int, steps: int, log_every: int) -> float:
    """Full command path (Ray Data streaming + TorchTrainer); tokens/s after the first window.
    The batch is BATCH rows per update in total, so each of ``workers`` takes BATCH/workers."""
    from uer_ray.tracking import read_metrics
    from uer_ray.train.pretrain import PretrainOptions, pretrain

    with tempfile.TemporaryDirectory() as out:
        pretrain(
            PretrainOptions(
                model=preset,
                data=str(shards),
                out=out,
                vocab=str(VOCAB),
                steps=steps,
                batch_size=BATCH // workers,
                workers=workers,
                log_every=log_every,
                save_every=steps,
                lr=1e-4,
                wandb_mode="disabled",
                shuffle_buffer=0,
            )
        )
        records = read_metrics(Path(out) / "metrics.jsonl")
    speeds = [r["tokens_per_s"] for r in records[1:]]  # the first window holds start-up
    return sum(speeds) / len(speeds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["bert-tiny", "bert-mini"])
    ap.add_argument("--steps", type=int, default=60, help="timed steps per measurement")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--data", type=Path, help="existing bert shards (seq 128)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--json", type=Path, help="also write the table here")
    args = ap.parse_args()
    os.environ.setdefault("WANDB_MODE", "disabled")
    torch.set_flush_denormal(True)
    tmp = tempfile.TemporaryDirectory()
    shards = args.data or make_shards(Path(tmp.name) / "shards")
    from uer_ray.cluster import ensure_ray

    ensure_ray()
    rows = []
    for preset in args.models:
        batches, tok = load_batches(shards, args.steps + args.warmup)
        # The bare loop runs before and after each Ray run, and each Ray run is compared with
        # the mean of the two around it: this machine's speed drifts by 10-20% over minutes.
        bare = [bare_loop(preset, batches, tok, args.warmup)]
        r = {"model": preset, "transformers": hf_loop(preset, batches, tok, args.warmup)}
        log_every = max(1, args.steps // 6)
        for w in args.workers:
            r[f"ray_{w}w"] = ray_path(preset, shards, w, args.steps + log_every, log_every)
            bare.append(bare_loop(preset, batches, tok, args.warmup))
            r[f"ray_{w}w/bare"] = r[f"ray_{w}w"] / ((bare[-2] + bare[-1]) / 2)
        r["bare"] = sum(bare) / len(bare)
        r["bare_runs"] = bare
        rows.append(r)
    print_table(rows, args.workers)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


def print_table(rows: list[dict], workers: list[int]) -> None:
    ray_cols = [f"ray_{w}w" for w in workers]
    head = ["model", "bare", *ray_cols, "transformers", "best ray/bare", "bare/HF", "best ray/HF"]
    print("tokens/s (real tokens; batch 32 x 128; MLM + SP; this machine, fp32 CPU); bare = mean of")
    print("the bare runs before and after each Ray run; ray/bare against the two around that run")
    print(" | ".join(f"{h:>13}" for h in head))
    for r in rows:
        best = max(r[c] for c in ray_cols)
        cells = [
            r["model"],
            *(f"{r[c]:.0f}" for c in ["bare", *ray_cols, "transformers"]),
            f"{max(r[c + '/bare'] for c in ray_cols):.2f}",
            f"{r['bare'] / r['transformers']:.2f}x",
            f"{best / r['transformers']:.2f}x",
        ]
        print(" | ".join(f"{c:>13}" for c in cells))


if __name__ == "__main__":
    sys.exit(main())
