"""Generation speed: uer_ray's cached greedy generation against transformers' and without the cache.

Greedy continuation of random prompts (lists of ids, no tokenizer) by a GPT-2 built by
transformers with random weights, saved, and converted with ``import_hf``, so that both sides
run the same float32 weights:

* ``ours cached``: ``uer_ray.generate.generate(..., GenerateOptions(max_new_tokens=128,
  stop=[], cache=True, batch_size=8), device="cpu")``;
* ``transformers``: ``GPT2LMHeadModel.generate`` (``do_sample=False``, ``max_new_tokens`` =
  ``min_new_tokens`` = 128, ``eos_token_id=None``, ``pad_token_id=0``), the batch left-padded by
  hand with its attention mask, under ``torch.inference_mode()``;
* ``ours uncached``: as the first with ``cache=False`` (the whole prefix recomputed each step).

Two sizes: ``gpt2-small`` (UER-py's Chinese GPT-2: 12 layers, hidden 768, 12 heads, BERT's
Chinese vocabulary of 21,128) and ``tiny`` (bert-tiny-sized causal: 2 layers, hidden 128,
2 heads, FFN 512). 8 prompts of 8 to 32 random ids (seed 0); batch 1 is the first prompt. No
generation stops early, so every call writes batch x 128 new tokens; the table gives new
tokens/s = batch * 128 / median seconds. The first call of each path is the warm-up and the
ids check (batch 1: the three paths must give the same ids; batch 8: rows that differ are
listed); the timed repeats then run in alternating rounds so that a busy machine slows all
alike. Results go to bench/results/generate.txt and .json.

    .venv/bin/python bench/generate.py [--sizes tiny gpt2-small] [--repeats 3] [--threads 2]
        [--uncached-repeats N] [--quick] [--profile]

About 6 minutes on a 2-core CPU, most of it gpt2-small's uncached path (2 timed calls by
default). ``--quick``: tiny only, one repeat, no results files (seconds). A timed call during
which other processes kept the CPUs busy is run again (``--busy-limit``); the json keeps each
call's seconds and the share of the CPUs others used meanwhile.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import transformers  # noqa: E402

import uer_ray  # noqa: E402
from uer_ray.generate import GenerateOptions, generate  # noqa: E402
from uer_ray.models.interop import import_hf  # noqa: E402

RESULTS = REPO / "bench" / "results"
VOCAB = 21128  # BERT's Chinese vocabulary
SIZES = {
    "gpt2-small": dict(vocab_size=VOCAB, n_embd=768, n_layer=12, n_head=12, n_positions=1024),
    "tiny": dict(vocab_size=VOCAB, n_embd=128, n_layer=2, n_head=2, n_inner=512, n_positions=512),
}
LABELS = {"gpt2-small": "gpt2-small", "tiny": "bert-tiny-sized causal"}
PATHS = ["ours_cached", "transformers", "ours_uncached"]
PAD = 0


def build(size: str, work: Path, seed: int):
    """(transformers model, uer_ray model) with the same random weights. Every parameter is
    redrawn as tests/models/test_hf_parity.py does (N(0, 0.1^2); LayerNorm weights 1 + N(0,
    0.2^2)): with transformers' own small initialisation a greedy continuation is one token
    repeated, which would make the ids check say little."""
    torch.manual_seed(seed)
    config = transformers.GPT2Config(**SIZES[size], bos_token_id=None, eos_token_id=None)
    hf = transformers.GPT2LMHeadModel(config)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in hf.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            p.copy_(1.0 + 0.2 * noise if ".ln_" in name and name.endswith("weight") else 0.1 * noise)
    hf.eval()
    hf.save_pretrained(work / "hf")
    import_hf(work / "hf", work / "ours")
    return hf, uer_ray.load_model(work / "ours").eval()


def make_prompts(seed: int, n: int = 8) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(8, 33, (n,), generator=g).tolist()
    return [torch.randint(1, VOCAB, (k,), generator=g).tolist() for k in lengths]  # no [PAD] (0)


def left_padded(prompts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """transformers' padding_side="left", by hand: ids and attention mask."""
    t = max(map(len, prompts))
    ids = torch.full((len(prompts), t), PAD, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts):
        ids[i, t - len(p):] = torch.tensor(p)
        mask[i, t - len(p):] = 1
    return ids, mask


def runners(hf, ours, prompts: list[list[int]], new: int) -> dict:
    """path -> a call that generates and returns each row's new ids."""
    ids, mask = left_padded(prompts)

    def ours_call(cache: bool):
        options = GenerateOptions(max_new_tokens=new, stop=[], cache=cache, batch_size=8)
        return lambda: [g.ids[0] for g in generate(ours, prompts, options, device="cpu")]

    def hf_call():
        with torch.inference_mode():
            out = hf.generate(input_ids=ids, attention_mask=mask, do_sample=False,
                              max_new_tokens=new, min_new_tokens=new, eos_token_id=None,
                              pad_token_id=PAD)
        return out[:, ids.shape[1]:].tolist()

    return {"ours_cached": ours_call(True), "transformers": hf_call, "ours_uncached": ours_call(False)}


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has been busy (/proc/stat; 0 where there is none)."""
    try:
        f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0
    return (sum(f[:8]) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")  # less idle and iowait


def timed(fn) -> tuple[float, float, list[list[int]]]:
    """(seconds, share of the machine's CPUs that other processes used meanwhile, output)."""
    own, busy, t = sum(os.times()[:2]), busy_cpu_s(), time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t
    others = (busy_cpu_s() - busy) - (sum(os.times()[:2]) - own)
    return wall, max(0.0, others) / (wall * (os.cpu_count() or 1)), out


def measure(size: str, batch: int, calls: dict, repeats: int, uncached_repeats: int,
            new: int, busy_limit: float, retries: int) -> dict:
    """Warm-up call of each path (its ids are checked), then alternating timed rounds. A timed
    call during which other processes used more than ``busy_limit`` of the CPUs is run again
    (up to ``retries`` times; with 2 threads on 2 cores any other load skews the time badly)."""
    seconds: dict[str, list[float]] = {p: [] for p in calls}
    others: dict[str, list[float]] = {p: [] for p in calls}
    ids = {}
    for r in range(-1, repeats):
        for path, fn in calls.items():
            if path == "ours_uncached" and r >= uncached_repeats:
                continue
            for attempt in range(retries + 1):
                s, busy, out = timed(fn)
                print(f"  {size} batch {batch} {path:<13} {'warm-up' if r < 0 else f'repeat {r + 1}'}"
                      f" {s:8.2f} s  (others used {busy:.0%} of the CPUs)", flush=True)
                if r < 0 or busy <= busy_limit or attempt == retries:
                    break
                time.sleep(5)
            if r < 0:
                ids[path] = out
            else:
                seconds[path].append(s)
                others[path].append(round(busy, 3))
    ref = ids["ours_cached"]
    differ = {p: [i for i, (a, b) in enumerate(zip(ref, got, strict=True)) if a != b]
              for p, got in ids.items() if p != "ours_cached"}
    speed = {p: batch * new / statistics.median(v) if v else None for p, v in seconds.items()}
    return {"size": size, "batch": batch, "seconds": seconds, "others_cpu_share": others, "tok_s": speed,
            "rows_differ": differ, "distinct_ids": [len(set(r)) for r in ref],
            "identical": all(not v for v in differ.values())}


def profile(calls: dict, top: int = 25) -> str:
    """cProfile of one cached uer_ray call: the functions its time goes to."""
    prof = cProfile.Profile()
    prof.enable()
    calls["ours_cached"]()
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    return buf.getvalue()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ratio(a, b) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def table(rows: list[dict]) -> list[str]:
    head = ["size", "batch", "ours cached tok/s", "transformers tok/s", "ours uncached tok/s",
            "ours/transformers", "cached/uncached"]
    widths = [22, 5, 17, 18, 19, 17, 15]
    lines = ["  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(head, widths, strict=True)))]
    for r in rows:
        s = r["tok_s"]
        cells = [LABELS[r["size"]], str(r["batch"]),
                 *(f"{s[p]:.1f}" if s[p] else "-" for p in PATHS),
                 ratio(s["ours_cached"], s["transformers"]), ratio(s["ours_cached"], s["ours_uncached"])]
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w)
                               for i, (c, w) in enumerate(zip(cells, widths, strict=True))))
    return lines


def uncached_repeats(size: str, args) -> int:
    if args.uncached_repeats is not None:
        return args.uncached_repeats
    return min(2, args.repeats) if size == "gpt2-small" else args.repeats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", choices=list(SIZES), default=["tiny", "gpt2-small"])
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--repeats", type=int, default=3, help="timed calls per path (median)")
    ap.add_argument("--uncached-repeats", type=int, default=None,
                    help="timed calls of the uncached path (default: --repeats for tiny, 2 for gpt2-small)")
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2, help="torch threads, both implementations")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="tiny only, 1 repeat, no results files")
    ap.add_argument("--profile", action="store_true",
                    help="print a cProfile of one cached uer_ray call per size and batch")
    ap.add_argument("--busy-limit", type=float, default=0.1,
                    help="rerun a timed call while other processes used more than this share of the CPUs")
    ap.add_argument("--retries", type=int, default=3)
    ap.add_argument("--no-save", action="store_true", help="do not write bench/results/generate.*")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.repeats, args.no_save = ["tiny"], 1, True
    started, stamp = time.perf_counter(), time.strftime("%Y-%m-%d %H:%M")
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    prompts = make_prompts(args.seed)
    new = args.new_tokens

    head = [
        f"generation speed, new tokens/s (greedy, {new} new tokens, never stopping early; float32; CPU)",
        f"date {stamp}; torch {torch.__version__}; transformers "
        f"{transformers.__version__}; python {platform.python_version()}",
        f"CPU {cpu_model()} ({os.cpu_count()} cores); torch.set_num_threads({args.threads}) for both "
        f"implementations; load average at start {os.getloadavg()[0]:.2f}",
        f"prompts: {len(prompts)} of random ids, lengths {[len(p) for p in prompts]} (batch 1: the first); "
        f"median of {args.repeats} timed calls after one warm-up call, in alternating rounds (uncached: "
        + ", ".join(f"{uncached_repeats(s, args)} for {s}" for s in args.sizes) + ")",
        f"command: .venv/bin/python bench/generate.py {' '.join(sys.argv[1:])}".rstrip(),
    ]
    print("\n".join(head), flush=True)

    rows, parity, profiles = [], [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            hf, ours = build(size, Path(tmp) / size, args.seed)
            for batch in args.batches:
                calls = runners(hf, ours, prompts[:batch], new)
                row = measure(size, batch, calls, args.repeats, uncached_repeats(size, args), new,
                              args.busy_limit, args.retries)
                rows.append(row)
                if args.profile:
                    profiles[f"{size} batch {batch}"] = profile(calls)
                compared = " and ".join(p.replace("_", " ") for p in row["rows_differ"])
                if batch == 1:
                    line = f"{LABELS[size]}, batch 1: ids identical: {'yes' if row['identical'] else 'no'}"
                else:
                    bad = {p: v for p, v in row["rows_differ"].items() if v}
                    line = (f"{LABELS[size]}, batch {batch}: rows whose ids differ from ours cached: "
                            + (", ".join(f"{p} {v}" for p, v in bad.items()) if bad else "none"))
                line += f" (ours cached vs {compared}; distinct ids per row {row['distinct_ids']})"
                parity.append(line)
                print(line, flush=True)
            del hf, ours

    wall = time.perf_counter() - started
    lines = [*head, "", *table(rows), "", *parity,
             f"targets: ours/transformers >= 1.0; cached/uncached >= 5 at {new} tokens",
             f"script run time {wall:.0f} s"]
    print()
    print("\n".join(lines[len(head) + 1:]))
    for name, text in profiles.items():
        print(f"\nprofile of one cached uer_ray call, {name}:\n{text}")
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "generate.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        meta = {"date": stamp, "torch": torch.__version__,
                "transformers": transformers.__version__, "cpu": cpu_model(),
                "threads": args.threads, "new_tokens": new, "prompt_lengths": [len(p) for p in prompts],
                "command": head[-1].removeprefix("command: "), "run_time_s": round(wall, 1)}
        (RESULTS / "generate.json").write_text(json.dumps({**meta, "rows": rows}, indent=1) + "\n",
                                               encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
