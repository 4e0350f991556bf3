"""Training-step throughput of uer_ray models against Hugging Face transformers on this machine.

One step = forward + backward + AdamW update on an MLM + SP batch (B×T random tokens, 15% masked,
two segments, no padding). uer_ray's ``bert-tiny``/``bert-mini``/``lstm`` presets run against
transformers' ``BertForPreTraining`` with the same sizes, measured in alternating rounds in the
same process so that a busy machine slows both alike; the table reports the median tokens/s
and the ratio. ``--compile`` adds rows for ``torch.compile``d embedding + encoder.

Encoder–decoder presets (``t5-small``, ``bart-base``, ...) run a denoising step instead: a
B×T source and a B×(T/4) target (``tgt_ids``, teacher-forced through the decoder: the preset's
own target, ``t5`` or ``bart``), against transformers' ``T5ForConditionalGeneration`` /
``BartForConditionalGeneration`` of the same sizes with the same inputs (``decoder_input_ids``
= target[:-1], ``labels`` = target[1:]); tokens/s counts source + target tokens, and the
vocabulary is the published model's (T5 32,128; BART 50,265).

    .venv/bin/python bench/model_step.py                      # bert-tiny, bert-mini, lstm
    .venv/bin/python bench/model_step.py --models t5-small,bart-base --batch-size 8
    .venv/bin/python bench/model_step.py --compile --rounds 5 --json bench.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from uer_ray.models import build_model, load_preset


def make_batch(batch_size: int, seq_length: int, vocab_size: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab_size, (batch_size, seq_length), generator=g)
    seg = torch.ones(batch_size, seq_length, dtype=torch.long)
    seg[:, seq_length // 2 :] = 2
    masked = torch.rand(batch_size, seq_length, generator=g) < 0.15
    labels = torch.where(masked, ids, torch.full_like(ids, -100))
    ids = ids.masked_fill(masked, 4)  # [MASK]
    is_next = torch.randint(0, 2, (batch_size,), generator=g)
    return {"input_ids": ids, "segment_ids": seg, "mlm_labels": labels, "is_next": is_next}


def training_step(model, inputs: dict, keywords: bool = False):
    """One forward + backward + fused AdamW update per call; returns the loss. uer_ray models
    take the batch dict, transformers models (``keywords``) its items as keyword arguments."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    forward = (lambda: model(**inputs)) if keywords else (lambda: model(inputs))

    def step() -> float:
        loss = forward().loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    return step


def ours_step(preset: str, batch: dict, vocab_size: int, compile_: bool):
    cfg = load_preset(preset)
    cfg["targets"] = {"mlm": 1.0, "sp": 1.0}
    model = build_model(cfg, vocab_size=vocab_size).train()
    if compile_:
        model.compile_backbone()
    return training_step(model, batch)


def hf_step(preset: str, batch: dict, vocab_size: int):
    from transformers import BertConfig, BertForPreTraining

    cfg = load_preset(preset)
    hc = BertConfig(
        vocab_size=vocab_size,
        hidden_size=cfg["hidden_size"],
        num_hidden_layers=cfg["layers"],
        num_attention_heads=cfg["heads"],
        intermediate_size=cfg["ffn_size"],
        max_position_embeddings=cfg["max_seq_length"],
        type_vocab_size=2,
    )
    model = BertForPreTraining(hc).train()
    seg = batch["segment_ids"]
    inputs = {
        "input_ids": batch["input_ids"],
        "token_type_ids": (seg - 1).clamp_min(0),
        "attention_mask": (seg != 0).long(),
        "labels": batch["mlm_labels"],
        "next_sentence_label": batch["is_next"],
    }

    return training_step(model, inputs, keywords=True)


SEQ2SEQ_VOCAB = {"t5": 32128, "bart": 50265}


def make_seq2seq_batch(batch_size: int, seq_length: int, vocab_size: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(5, vocab_size, (batch_size, seq_length), generator=g)
    tgt = torch.randint(5, vocab_size, (batch_size, max(seq_length // 4, 3)), generator=g)
    return {"input_ids": src, "segment_ids": torch.ones_like(src), "tgt_ids": tgt}


def seq2seq_family(preset: str) -> str | None:
    cfg = load_preset(preset)
    if cfg.get("decoder") is None:
        return None
    return "t5" if "t5" in cfg["targets"] else "bart"


def ours_seq2seq_step(preset: str, batch: dict, vocab_size: int):
    model = build_model(load_preset(preset), vocab_size=vocab_size, pad_id=0).train()

    return training_step(model, batch)


def hf_seq2seq_step(preset: str, batch: dict, vocab_size: int):
    import transformers

    cfg = load_preset(preset)
    enc = (cfg.get("encoder_options") or {}).get("transformer", {})
    if seq2seq_family(preset) == "t5":
        hc = transformers.T5Config(
            vocab_size=vocab_size, d_model=cfg["hidden_size"], num_layers=cfg["layers"],
            num_decoder_layers=cfg["layers"], num_heads=cfg["heads"],
            d_kv=enc.get("head_size", cfg["hidden_size"] // cfg["heads"]), d_ff=cfg["ffn_size"],
            relative_attention_num_buckets=enc.get("relative_buckets", 32),
            relative_attention_max_distance=enc.get("relative_max_distance", 128),
            feed_forward_proj=("gated-gelu" if enc.get("feed_forward") == "gated" else "relu"),
            tie_word_embeddings=cfg["target_options"]["t5"].get("tie_weights", True),
            dropout_rate=cfg["dropout"], decoder_start_token_id=0)
        model = transformers.T5ForConditionalGeneration(hc).train()
    else:
        hc = transformers.BartConfig(
            vocab_size=vocab_size, d_model=cfg["hidden_size"], encoder_layers=cfg["layers"],
            decoder_layers=cfg["layers"], encoder_attention_heads=cfg["heads"],
            decoder_attention_heads=cfg["heads"], encoder_ffn_dim=cfg["ffn_size"],
            decoder_ffn_dim=cfg["ffn_size"], max_position_embeddings=cfg["max_seq_length"],
            dropout=cfg["dropout"])
        model = transformers.BartForConditionalGeneration(hc).train()
    tgt = batch["tgt_ids"]
    inputs = {"input_ids": batch["input_ids"], "attention_mask": torch.ones_like(batch["input_ids"]),
              "decoder_input_ids": tgt[:, :-1].contiguous(), "labels": tgt[:, 1:].contiguous()}

    return training_step(model, inputs, keywords=True)


def step_flops(step) -> int:
    """Floating-point operations of one call of ``step`` (forward, backward and optimizer) in the
    matrix products torch's flop counter knows (mm, addmm, bmm, baddbmm, convolutions; CPU flash
    attention is not counted, so the count is a lower bound)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def gemm_rate(seconds: float = 2.0) -> float:
    """This machine's fp32 matrix-product rate (FLOP/s, the best of three square and
    transformer-shaped products at the current thread count): what a step could reach if
    all its arithmetic ran as fast as one large GEMM and nothing else cost time."""
    best = 0.0
    for m, k, n in ((2048, 2048, 2048), (1024, 512, 2048), (1024, 768, 3072)):
        a, b = torch.randn(m, k), torch.randn(k, n)
        torch.mm(a, b)
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 3:
            torch.mm(a, b)
            reps += 1
        best = max(best, 2 * m * k * n * reps / (time.perf_counter() - start))
    return best


def ceiling(steps: dict, rates: dict, tokens: int) -> dict:
    """The arithmetic bound of a row: the step's counted FLOPs (the smaller of the two
    implementations', both doing the same model's work) at the machine's GEMM rate, measured
    just after the rows, as tokens/s, and how far each implementation is from it."""
    flops = {name: step_flops(fn) for name, fn in steps.items()}
    rate = gemm_rate()
    least = min(flops.values())
    bound = tokens * rate / least
    return {"gemm_gflops": rate / 1e9, "step_gflops": {k: v / 1e9 for k, v in flops.items()},
            "achieved_gflops": {k: flops[k] / (tokens / rates[k][0]) / 1e9 for k in steps},
            "bound_tokens_per_s": bound,
            "bound_vs_transformers": bound / rates["transformers"][0] if "transformers" in rates else None}


def measure(steps: dict, rounds: int, steps_per_round: int, warmup: int, tokens: int) -> dict:
    """Per named step function: median tokens per wall-clock second and per CPU second of this
    process, timed in alternating rounds. On a shared machine the CPU-time rate is the steadier
    one (other processes stretch wall time, not this process's CPU time)."""
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    wall: dict[str, list[float]] = {name: [] for name in steps}
    cpu: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, fn in steps.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(steps_per_round):
                fn()
            wall[name].append(tokens * steps_per_round / (time.perf_counter() - start))
            cpu[name].append(tokens * steps_per_round / (time.process_time() - start_cpu))
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in steps}


def _rows(rows: list, preset: str, rates: dict) -> None:
    base = rates.get("transformers")
    for name, (rate, cpu_rate) in rates.items():
        row = {"model": preset, "impl": name, "tokens_per_s": round(rate),
               "vs_transformers": round(rate / base[0], 2) if base else None,
               "tokens_per_cpu_s": round(cpu_rate),
               "vs_transformers_cpu": round(cpu_rate / base[1], 2) if base else None}
        rows.append(row)
        ratio = f"{row['vs_transformers']:.2f}" if base else "-"
        ratio_cpu = f"{row['vs_transformers_cpu']:.2f}" if base else "-"
        print(f"{preset:<11} {name:<16} {row['tokens_per_s']:>9} {ratio:>15} "
              f"{row['tokens_per_cpu_s']:>13} {ratio_cpu:>13}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="bert-tiny,bert-mini,lstm")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-length", type=int, default=128)
    p.add_argument("--vocab-size", type=int, default=21128, help="BERT's Chinese vocabulary size")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=3, help="steps per round")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument(
        "--compile", action="store_true", help="also time torch.compile'd uer_ray models"
    )
    p.add_argument("--no-hf", action="store_true", help="skip the transformers baseline")
    p.add_argument(
        "--no-flush-denormal",
        action="store_true",
        help="keep denormal floats (they slow the vocabulary-projection backward on CPU)",
    )
    p.add_argument("--bound", action="store_true",
                   help="encoder-decoder rows: also print the arithmetic bound (the step's "
                        "matrix-product FLOPs at this machine's GEMM rate) and its ratio to transformers")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    flush = not args.no_flush_denormal and torch.set_flush_denormal(True)
    torch.manual_seed(0)
    batch = make_batch(args.batch_size, args.seq_length, args.vocab_size)
    tokens = args.batch_size * args.seq_length
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, flush_denormal={bool(flush)}, "
        f"batch {args.batch_size}x{args.seq_length}, vocab {args.vocab_size}, MLM+SP, AdamW"
    )
    if any(seq2seq_family(m) for m in args.models.split(",")):
        print(f"encoder-decoder rows: source {args.batch_size}x{args.seq_length} + target "
              f"{args.batch_size}x{max(args.seq_length // 4, 3)}, the published vocabulary "
              f"(t5 {SEQ2SEQ_VOCAB['t5']}, bart {SEQ2SEQ_VOCAB['bart']}), the preset's denoising "
              "target against transformers' T5/BART ForConditionalGeneration")
    print(f"\n{'model':<11} {'implementation':<16} {'tokens/s':>9} {'× transformers':>15} "
          f"{'tokens/cpu-s':>13} {'× (cpu time)':>13}", flush=True)
    rows, bounds = [], {}
    for preset in args.models.split(","):
        family = seq2seq_family(preset)
        if family is not None:
            vocab = SEQ2SEQ_VOCAB[family]
            s2s = make_seq2seq_batch(args.batch_size, args.seq_length, vocab)
            steps = {"uer_ray": ours_seq2seq_step(preset, s2s, vocab)}
            if not args.no_hf:
                steps["transformers"] = hf_seq2seq_step(preset, s2s, vocab)
            n = s2s["input_ids"].numel() + s2s["tgt_ids"].numel()
            rates = measure(steps, args.rounds, args.steps, args.warmup, n)
            _rows(rows, preset, rates)
            if args.bound:
                bounds[preset] = b = ceiling(steps, rates, n)
                print(f"{'':11} arithmetic bound: {b['bound_tokens_per_s']:.0f} tokens/s"
                      + (f" = {b['bound_vs_transformers']:.2f}x transformers" if b["bound_vs_transformers"] else "")
                      + f" (step {min(b['step_gflops'].values()):.0f} GFLOP at the GEMM rate "
                      f"{b['gemm_gflops']:.0f} GFLOP/s; achieved "
                      + ", ".join(f"{k} {v:.0f}" for k, v in b["achieved_gflops"].items()) + " GFLOP/s)",
                      flush=True)
            continue
        steps = {"uer_ray": ours_step(preset, batch, args.vocab_size, False)}
        if args.compile:
            steps["uer_ray+compile"] = ours_step(preset, batch, args.vocab_size, True)
        bert_like = load_preset(preset).get("encoder") == "transformer"
        if bert_like and not args.no_hf:
            steps["transformers"] = hf_step(preset, batch, args.vocab_size)
        rates = measure(steps, args.rounds, args.steps, args.warmup + (2 if args.compile else 0), tokens)
        _rows(rows, preset, rates)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows, "bounds": bounds}, f, indent=2)


if __name__ == "__main__":
    main()
