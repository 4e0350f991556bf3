"""Helper of bench/gpu.sh: reads what each part's run left behind, times generation, and writes
the table. Each sub-command appends one JSON record per measured part to a ``parts.jsonl``;
``table`` turns that file into bench/results/gpu.txt (or wherever --out says).

    python bench/gpu_report.py cuda                       # exit 0 when torch sees a GPU
    python bench/gpu_report.py pretrain --run DIR ...     # a pre-training run's metrics.jsonl
    python bench/gpu_report.py finetune --run DIR ...     # a fine-tuning run's metrics.json
    python bench/gpu_report.py generate --model gpt2-small --device cuda ...
    python bench/gpu_report.py skip --part c --title ... --reason ...
    python bench/gpu_report.py table --parts FILE --out FILE --command ...
    python bench/gpu_report.py no-gpu --out FILE --reason ...

Model FLOPs of pre-training (MLM + SP, counted on the real model, per optimiser step):

    6 * N_enc * tokens                        every weight matrix of the encoder, each real token
  + 12 * L * d * tokens * mean_row_length     attention scores (Q K^T) and weighted sum (A V),
                                              forward 2 * 2 * n * d per token and layer, x3
  + 6 * (d*d + V*d) * masked_positions        MLM head (dense + tied vocabulary projection); the
                                              model projects only masked positions
  + 6 * N_sp * rows                           SP head (pooler + 2-way output), once per row

"tokens" are real (non-padding) tokens as metrics.jsonl counts them, "masked_positions" the
sum of its ``mlm/count``, rows from ``sequences_seen``. Biases, LayerNorm, softmax, GELU and
the optimiser are left out (each well under 1%). These are model FLOPs: what the architecture
needs for the real tokens, whatever the implementation skips or wastes (padding).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NO_GPU_MARK = "bench/gpu.sh: no GPU found"

# Dense (no sparsity) bf16 tensor-core peaks, TFLOP/s, from NVIDIA's data sheets; the first
# pattern found in the lower-cased nvidia-smi name wins.
PEAKS = (
    ("h100 pcie", 756.0),
    ("h100 nvl", 835.0),
    ("h100", 989.0),  # SXM (nvidia-smi: "NVIDIA H100 80GB HBM3")
    ("h200", 989.0),
    ("gh200", 989.0),
    ("a100", 312.0),
)


# ---------------------------------------------------------------- GPU facts


def gpu_names() -> list[str]:
    """Names nvidia-smi lists, one per GPU ([] without nvidia-smi)."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def nvidia_smi_line() -> str:
    if shutil.which("nvidia-smi") is None:
        return "nvidia-smi: not found"
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                              "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return f"nvidia-smi: failed ({e})"
    rows = [r.strip() for r in out.splitlines() if r.strip()]
    return f"{len(rows)} x " + "; ".join(sorted(set(rows))) if rows else "nvidia-smi: no GPU listed"


def peak_tflops(name: str | None = None) -> tuple[float | None, str]:
    """(assumed dense bf16 peak per GPU in TFLOP/s, where it comes from)."""
    env = os.environ.get("GPU_PEAK_TFLOPS")
    if env:
        return float(env), "GPU_PEAK_TFLOPS"
    names = [name] if name else gpu_names()
    if not names:
        return None, "no GPU name"
    low = names[0].lower()
    for pattern, value in PEAKS:
        if pattern in low:
            return value, f"from the name {names[0]!r}"
    return None, f"unknown GPU {names[0]!r}: set GPU_PEAK_TFLOPS"


# ---------------------------------------------------------------- records


def append(parts: Path, record: dict) -> None:
    parts.parent.mkdir(parents=True, exist_ok=True)
    with open(parts, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    print(f"[gpu_report] {record['part']} {record['title']}: {record['summary']}", flush=True)


def read_parts(parts: Path) -> list[dict]:
    if not parts.exists():
        return []
    return [json.loads(line) for line in parts.read_text(encoding="utf-8").splitlines() if line.strip()]


def status_of(args) -> str:
    if args.rc == 0:
        return "ok"
    if args.rc in (124, 137):
        return f"stopped at its time cap ({args.cap:.0f} s)"
    return f"failed (exit {args.rc})"


def base_record(args, title: str) -> dict:
    return {"part": args.part, "title": title, "command": args.cmd, "status": status_of(args),
            "wall_s": round(args.wall, 1), "log": args.log}


# ---------------------------------------------------------------- pre-training


def model_counts(preset: str, vocab_size: int) -> dict:
    """Weight-matrix sizes of the real model (built on the meta device: no memory, no time)."""
    import torch

    from uer_ray import build_model, load_preset

    config = load_preset(preset)
    with torch.device("meta"):
        model = build_model(config, vocab_size=vocab_size)

    def matrices(module) -> int:
        return sum(p.numel() for p in module.parameters() if p.dim() >= 2)

    targets = dict(model.targets.items())
    unknown = sorted(set(targets) - {"mlm", "sp"})
    if unknown:
        raise SystemExit(f"gpu_report: FLOP count knows mlm and sp targets only, not {unknown}")
    d = config["hidden_size"]
    return {
        "preset": preset, "layers": config["layers"], "hidden": d, "vocab": vocab_size,
        "params": sum(p.numel() for p in model.parameters()),
        "encoder_matrices": matrices(model.encoder),
        # the MLM projection is tied to the word table (kept out of the target's parameters)
        "mlm_matrices": matrices(targets["mlm"]) + vocab_size * d if "mlm" in targets else 0,
        "sp_matrices": matrices(targets["sp"]) if "sp" in targets else 0,
    }


def vocab_size(run: Path, vocab: Path) -> int:
    """V of the trained model: its final/config.json, else the lines of the shards' vocab.txt
    (counted at newlines only: some WordPiece entries hold characters that ``splitlines``
    also breaks at)."""
    config = run / "final" / "config.json"
    if config.exists():
        size = json.loads(config.read_text(encoding="utf-8")).get("vocab_size")
        if size:
            return int(size)
    text = vocab.read_text(encoding="utf-8")
    return text.count("\n") + (0 if text.endswith("\n") or not text else 1)


def pretrain_flops(c: dict, tokens: float, rows: float, masked: float) -> float:
    mean_len = tokens / max(rows, 1.0)
    return (6 * c["encoder_matrices"] * tokens
            + 12 * c["layers"] * c["hidden"] * tokens * mean_len
            + 6 * c["mlm_matrices"] * masked
            + 6 * c["sp_matrices"] * rows)


def steady(lines: list[dict]) -> dict | None:
    """Tokens/s over the log lines after the first window: (tokens at the last line - tokens at
    the first) / (time of the last - time of the first). The first window holds start-up (CUDA
    context, allocator, first Ray Data block) and is skipped."""
    if len(lines) < 2:
        return None
    first, rest = lines[0], lines[1:]
    seconds = rest[-1]["time"] - first["time"]
    tokens = rest[-1]["tokens_seen"] - first["tokens_seen"]
    rows = rest[-1]["sequences_seen"] - first["sequences_seen"]
    masked = sum(r.get("mlm/count", 0.0) for r in rest)
    if seconds <= 0:
        return None
    return {"windows": f"{len(rest)} of {len(lines)} (steps {first['step']}-{rest[-1]['step']})",
            "steps": rest[-1]["step"] - first["step"], "seconds": round(seconds, 3),
            "tokens": tokens, "rows": rows, "masked": masked,
            "tokens_per_s": tokens / seconds, "rows_per_s": rows / seconds,
            "steps_per_s": (rest[-1]["step"] - first["step"]) / seconds,
            "window_min": min(r["tokens_per_s"] for r in rest),
            "window_max": max(r["tokens_per_s"] for r in rest),
            "first_window_tokens_per_s": first["tokens_per_s"]}


def cmd_pretrain(args) -> int:
    run = Path(args.run)
    lines = []
    metrics = run / "metrics.jsonl"
    if metrics.exists():
        for x in metrics.read_text(encoding="utf-8").splitlines():
            try:
                lines.append(json.loads(x))
            except json.JSONDecodeError:  # a line cut short when the run was stopped
                continue
        lines = [r for r in lines if "step" in r and "time" in r]
    title = args.title
    rec = base_record(args, title)
    rec.update(setting=args.setting, kind="pretrain", gpus=args.gpus, id=args.id)
    s = steady(lines)
    if s is None:
        rec["summary"] = (f"no steady window ({len(lines)} log line(s) in {metrics}); "
                          + rec["status"])
        append(Path(args.parts), rec)
        return 0
    c = model_counts(args.model, vocab_size(run, Path(args.vocab)))
    flops = pretrain_flops(c, s["tokens"], s["rows"], s["masked"])
    per_token = flops / s["tokens"]
    achieved = flops / s["seconds"]
    peak, peak_from = peak_tflops()
    mfu = achieved / (peak * 1e12 * args.gpus) if peak else None
    rec.update(steady=s, counts=c, flops_per_token=per_token, achieved_tflops=achieved / 1e12,
               peak_tflops=peak, peak_from=peak_from, mfu=mfu,
               mean_row_length=s["tokens"] / max(s["rows"], 1), masked_share=s["masked"] / s["tokens"])
    summary = f"{s['tokens_per_s']:,.0f} tok/s"
    if args.gpus > 1:
        summary += f" ({s['tokens_per_s'] / args.gpus:,.0f} per worker)"
    summary += f", {achieved / 1e12:.2f} TFLOP/s"
    summary += f", MFU {100 * mfu:.1f}%" if mfu is not None else ", MFU - (peak unknown)"
    if args.baseline:
        base = next((p for p in read_parts(Path(args.parts)) if p.get("id") == args.baseline
                     and p.get("steady")), None)
        if base:
            ratio = s["tokens_per_s"] / base["steady"]["tokens_per_s"]
            rec["scaling"] = ratio
            summary += f"; {ratio:.2f}x the 1-worker run ({100 * ratio / args.gpus:.0f}% scaling efficiency)"
    if rec["status"] != "ok":
        summary += f" [{rec['status']}]"
    rec["summary"] = summary
    append(Path(args.parts), rec)
    return 0


# ---------------------------------------------------------------- fine-tuning


def cmd_finetune(args) -> int:
    run = Path(args.run)
    rec = base_record(args, args.title)
    rec.update(setting=args.setting, kind="finetune")
    history = []
    record = {}
    if (run / "metrics.json").exists():
        record = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
        history = record["results"]["history"]
    elif (run / "metrics.jsonl").exists():
        history = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    n_train = record.get("results", {}).get("examples", {}).get("train") or args.train_rows
    if not history or not n_train:
        rec["summary"] = f"no epoch record in {run}; {rec['status']}"
        append(Path(args.parts), rec)
        return 0
    epochs = [{"epoch": h["epoch"], "seconds": h["epoch_seconds"],
               "examples_per_s": n_train / h["epoch_seconds"],
               "dev": {k: v for k, v in h.items() if k.startswith("dev/") and not k.endswith("count")}}
              for h in history]
    rec.update(train_examples=n_train, epochs=epochs, device=record.get("device"),
               params=record.get("model", {}).get("parameters"))
    summary = "; ".join(f"epoch {e['epoch']} {e['examples_per_s']:,.0f} ex/s ({e['seconds']:.1f} s)"
                        for e in epochs)
    if rec["status"] != "ok":
        summary += f" [{rec['status']}]"
    rec["summary"] = summary
    append(Path(args.parts), rec)
    return 0


# ---------------------------------------------------------------- generation


def make_prompts(seed: int, n: int, vocab: int) -> list[list[int]]:
    """n prompts of 8 to 32 random ids (bench/generate.py's prompts, more of them)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(8, 33, (n,), generator=g).tolist()
    return [torch.randint(1, vocab, (k,), generator=g).tolist() for k in lengths]  # no [PAD] (0)


def cmd_generate(args) -> int:
    """Greedy generation through ``uer_ray.generate.generate`` (what ``run.py generate``
    calls), on a model built from a preset with its random initial weights: with no stop token
    every row writes exactly --new-tokens ids, so the weights do not change the work done."""
    import torch

    from uer_ray import build_model, load_preset
    from uer_ray.generate import GenerateOptions, generate

    started = time.perf_counter()
    torch.manual_seed(args.seed)
    model = build_model(load_preset(args.model), vocab_size=args.vocab_size).eval()
    prompts = make_prompts(args.seed, max(args.batches), args.vocab_size)
    cuda = args.device.startswith("cuda")

    def call(batch: int) -> float:
        options = GenerateOptions(max_new_tokens=args.new_tokens, stop=[], cache=True, batch_size=batch)
        if cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = generate(model, prompts[:batch], options, device=args.device, bf16=not args.no_bf16)
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t
        written = sum(len(g.ids[0]) for g in out)
        if written != batch * args.new_tokens:
            raise SystemExit(f"gpu_report: generated {written} ids, expected {batch * args.new_tokens}")
        return seconds

    rows = []
    for batch in args.batches:
        warm = call(batch)
        seconds = [call(batch) for _ in range(args.repeats)]
        med = statistics.median(seconds)
        rows.append({"batch": batch, "warmup_s": round(warm, 3), "seconds": [round(s, 4) for s in seconds],
                     "tokens_per_s": batch * args.new_tokens / med,
                     "ms_per_step": 1000 * med / args.new_tokens})
        print(f"  {args.model} batch {batch}: {rows[-1]['tokens_per_s']:,.0f} new tok/s "
              f"({rows[-1]['ms_per_step']:.2f} ms per step)", flush=True)
    params = sum(p.numel() for p in model.parameters())
    dtype = "float32" if args.no_bf16 or not cuda else "bf16 autocast"
    rec = {"part": args.part, "id": args.id, "title": args.title, "kind": "generate",
           "command": args.cmd or shlex.join([os.environ.get("GPU_BENCH_PYTHON", sys.executable), *sys.argv]),
           "status": "ok", "wall_s": round(time.perf_counter() - started, 1), "log": args.log,
           "setting": (f"{args.model} ({params / 1e6:.1f} M parameters, random weights), greedy, KV cache, "
                       f"{args.new_tokens} new tokens per row, prompts 8-32 ids, {dtype}, "
                       f"median of {args.repeats} after 1 warm-up"),
           "device": args.device, "rows": rows,
           "summary": ", ".join(f"batch {r['batch']} {r['tokens_per_s']:,.0f} tok/s" for r in rows)}
    append(Path(args.parts), rec)
    return 0


# ---------------------------------------------------------------- skip, table, no GPU


def cmd_skip(args) -> int:
    append(Path(args.parts), {"part": args.part, "title": args.title, "status": "skipped",
                              "summary": args.reason, "command": args.cmd or "",
                              "wall_s": 0})
    return 0


def fmt_row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def table_lines(parts: list[dict], args) -> list[str]:
    import torch

    import uer_ray

    peak, peak_from = peak_tflops()
    cuda = torch.version.cuda or "none"
    head = [
        f"bench/gpu.sh — {args.mode}" + ("  (NOT GPU numbers: CPU smoke test of the script)" if args.mode == "cpu-smoke" else ""),
        f"command: {args.command}",
        f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"GPU: {nvidia_smi_line()}",
        f"torch {torch.__version__} (CUDA {cuda}); uer_ray {getattr(uer_ray, '__version__', '?')}; "
        f"python {platform.python_version()}; {os.cpu_count()} CPU cores",
        "peak assumed for MFU: " + (f"{peak:g} TFLOP/s dense bf16 per GPU ({peak_from})" if peak
                                    else f"none ({peak_from}); MFU not computed"),
        "pre-training model FLOPs (counted on the built model, see bench/gpu_report.py):",
        "  6*N_enc*tokens + 12*L*d*tokens*mean_row_len + 6*(d^2+V*d)*masked + 6*N_sp*rows;",
        "  tokens = real (non-padding) tokens from metrics.jsonl; MFU = model FLOP/s / (peak x GPUs)",
        "steady = from the end of the first logging window to the last line of metrics.jsonl",
        f"total run time of the script: {args.total_s:.0f} s" if args.total_s else "",
    ]
    widths = [4, max([4] + [len(p["title"]) for p in parts]), 7, 0]
    lines = [x for x in head if x] + ["", fmt_row(["part", "what", "status", "result"], widths),
                                      fmt_row(["-" * w for w in widths[:3]] + ["-" * 40], widths)]
    for p in parts:
        status = "capped" if p["status"].startswith("stopped") else p["status"].split(" ")[0]
        lines.append(fmt_row([p["part"], p["title"], status, p["summary"]], widths))
    lines.append("")
    for p in parts:
        lines.append(f"({p['part']}) {p['title']} — {p['status']}"
                     + (f", {p['wall_s']:.0f} s wall" if p.get("wall_s") else ""))
        if p["status"] == "skipped":
            lines.append(f"    {p['summary']}")
        if p.get("setting"):
            lines.append(f"    setting: {p['setting']}")
        if p.get("command"):
            lines.append(f"    command: {p['command']}")
        if p.get("kind") == "pretrain" and p.get("steady"):
            s, c = p["steady"], p["counts"]
            lines += [
                f"    steady: {s['tokens_per_s']:,.0f} real tokens/s, {s['rows_per_s']:,.1f} rows/s, "
                f"{s['steps_per_s']:.2f} steps/s over {s['seconds']:.1f} s, windows {s['windows']}",
                f"    per-window tokens/s: min {s['window_min']:,.0f}, max {s['window_max']:,.0f}; "
                f"first (skipped) window {s['first_window_tokens_per_s']:,.0f}",
                f"    model: {c['preset']}, {c['params'] / 1e6:.1f} M parameters, encoder matrices "
                f"{c['encoder_matrices'] / 1e6:.2f} M, L {c['layers']}, d {c['hidden']}, V {c['vocab']}",
                f"    mean real row length {p['mean_row_length']:.1f} tokens, masked share "
                f"{p['masked_share']:.3f}; model FLOPs {p['flops_per_token'] / 1e6:.1f} M per real token",
                f"    achieved {p['achieved_tflops']:.2f} TFLOP/s"
                + (f" = MFU {100 * p['mfu']:.1f}% of {p['peak_tflops']:g} x {p['gpus']} GPU(s)"
                   if p.get("mfu") is not None else " (no peak: MFU not computed)"),
            ]
        if p.get("kind") == "finetune" and p.get("epochs"):
            for e in p["epochs"]:
                dev = ", ".join(f"{k} {v:.4f}" for k, v in e["dev"].items())
                lines.append(f"    epoch {e['epoch']}: {e['seconds']:.2f} s for {p['train_examples']:,} "
                             f"examples = {e['examples_per_s']:,.1f} examples/s (training only; {dev})")
        if p.get("kind") == "generate":
            for r in p["rows"]:
                lines.append(f"    batch {r['batch']:>3}: {r['tokens_per_s']:,.1f} new tokens/s, "
                             f"{r['ms_per_step']:.2f} ms per decoding step (warm-up call {r['warmup_s']:.2f} s)")
        if p.get("log"):
            lines.append(f"    log: {p['log']}")
        lines.append("")
    return lines


def cmd_table(args) -> int:
    parts = sorted(read_parts(Path(args.parts)), key=lambda p: p["part"])  # stable: run order within
    lines = table_lines(parts, args)
    text = "\n".join(lines).rstrip() + "\n"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    print(text, end="")
    print(f"[gpu_report] table written to {out}")
    return 0


def cmd_no_gpu(args) -> int:
    """The no-GPU line: printed, and written to --out unless --out already holds GPU numbers."""
    line = f"{NO_GPU_MARK} ({args.reason}); nothing was measured. {time.strftime('%Y-%m-%d %H:%M %Z')}"
    print(line)
    out = Path(args.out)
    if out.exists() and not out.read_text(encoding="utf-8").startswith(NO_GPU_MARK):
        print(f"{out} holds results of an earlier GPU run: left as it is")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(line + "\n", encoding="utf-8")
    print(f"written to {out}")
    return 0


def cmd_cuda(args) -> int:
    try:
        import torch
    except ImportError as e:
        print(f"torch not importable: {e}")
        return 1
    if not torch.cuda.is_available():
        print(f"torch {torch.__version__}: torch.cuda.is_available() is False")
        return 1
    print(f"torch {torch.__version__}: {torch.cuda.device_count()} GPU(s), {torch.cuda.get_device_name(0)}")
    return 0


def cmd_peak(args) -> int:
    peak, where = peak_tflops()
    print(f"{peak:g} TFLOP/s ({where})" if peak else f"unknown ({where})")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd_name", required=True)

    def run_args(p):
        p.add_argument("--part", required=True)
        p.add_argument("--id", default=None, help="name another part can refer to (--baseline)")
        p.add_argument("--title", required=True)
        p.add_argument("--setting", default="")
        p.add_argument("--cmd", default="", help="the command that was run")
        p.add_argument("--rc", type=int, default=0)
        p.add_argument("--cap", type=float, default=0)
        p.add_argument("--wall", type=float, default=0)
        p.add_argument("--log", default="")
        p.add_argument("--parts", required=True)

    p = sub.add_parser("pretrain")
    run_args(p)
    p.add_argument("--run", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--vocab", required=True, help="the shards' vocab.txt (its entries: V)")
    p.add_argument("--gpus", type=int, default=1)
    p.add_argument("--baseline", default=None, help="id of the 1-worker part to compare with")
    p.set_defaults(fn=cmd_pretrain)

    p = sub.add_parser("finetune")
    run_args(p)
    p.add_argument("--run", required=True)
    p.add_argument("--train-rows", type=int, default=0)
    p.set_defaults(fn=cmd_finetune)

    p = sub.add_parser("generate")
    p.add_argument("--part", default="d")
    p.add_argument("--id", default="generate")
    p.add_argument("--title", default="generation")
    p.add_argument("--cmd", default="")
    p.add_argument("--log", default="")
    p.add_argument("--parts", required=True)
    p.add_argument("--model", default="gpt2-small")
    p.add_argument("--vocab-size", type=int, default=21128)
    p.add_argument("--device", default="cuda")
    p.add_argument("--no-bf16", action="store_true")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64])
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(fn=cmd_generate)

    p = sub.add_parser("skip")
    p.add_argument("--part", required=True)
    p.add_argument("--title", required=True)
    p.add_argument("--reason", required=True)
    p.add_argument("--cmd", default="")
    p.add_argument("--parts", required=True)
    p.set_defaults(fn=cmd_skip)

    p = sub.add_parser("table")
    p.add_argument("--parts", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--command", required=True)
    p.add_argument("--mode", default="GPU run")
    p.add_argument("--total-s", type=float, default=0)
    p.set_defaults(fn=cmd_table)

    p = sub.add_parser("no-gpu")
    p.add_argument("--out", required=True)
    p.add_argument("--reason", required=True)
    p.set_defaults(fn=cmd_no_gpu)

    sub.add_parser("cuda").set_defaults(fn=cmd_cuda)
    sub.add_parser("peak").set_defaults(fn=cmd_peak)
    args = ap.parse_args()
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
