"""``run.py generate``: text from a language model or an encoder–decoder model (``mt``, ``ae``):
``--prompt TEXT`` (printed) or ``--input F`` (one prompt per line) ``--out F`` (TSV), with greedy,
beam search or sampling (``uer_ray.generate``, docs/generate.md)."""

from __future__ import annotations

import argparse
import sys


def _early_stopping(text: str) -> bool | str:
    value = {"true": True, "false": False, "never": "never"}.get(text.lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not true, false or never")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="a checkpoint folder (pretrain --out, convert "
                   "--out), zoo:NAME[@VERSION|@ALIAS] or a URI")
    p.add_argument("--zoo", help="zoo for a zoo: --model (default UER_RAY_ZOO)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt", action="append", help="a prompt (repeat for several); the "
                     "generations are printed unless --out is given")
    src.add_argument("--input", help="a text file, one prompt per line (a blank line: no prompt, "
                     "the model starts from [CLS])")
    p.add_argument("--out", help="TSV to write: prompt, text (and rank, score with --probs); "
                   "required with --input")
    g = p.add_argument_group("search")
    g.add_argument("--max-new-tokens", type=int, default=64)
    g.add_argument("--beams", type=int, default=1, help="beam search with N beams (1: greedy)")
    g.add_argument("--length-penalty", type=float, default=1.0,
                   help="beam score = sum(log p) / length ** this")
    g.add_argument("--early-stopping", type=_early_stopping, default=False,
                   metavar="{true,false,never}", help="beam search: when to stop (default false)")
    g.add_argument("--sample", action="store_true", help="sample instead of taking the most likely token")
    g.add_argument("--temperature", type=float, default=1.0)
    g.add_argument("--top-k", type=int, default=0, help="sample among the k most likely tokens (0: all)")
    g.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling (1: off)")
    g.add_argument("--repetition-penalty", type=float, default=1.0)
    g.add_argument("--num-return", type=int, default=1, help="hypotheses per prompt (beams or samples)")
    g.add_argument("--seed", type=int, default=0, help="sampling seed: the same seed, the same text")
    g.add_argument("--stop", action="append", metavar="TOKEN",
                   help="a token that ends the text (repeatable; default [SEP])")
    g.add_argument("--no-stop", action="store_true", help="always generate --max-new-tokens")
    g.add_argument("--long-prompt", choices=("error", "truncate"), default="error",
                   help="a prompt too long for the model's positions: an error, or keep its end")
    g.add_argument("--no-cache", dest="cache", action="store_false",
                   help="recompute the whole prefix every step (slow; for comparison)")
    g.add_argument("--target", help="which generating target, when the model has several")
    p.add_argument("--probs", action="store_true", help="add each hypothesis's score "
                   "(sum of log-probabilities; the length-penalised beam score with --beams)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="auto", help="auto (the GPU when there is one), cpu, cuda or cuda:N")
    p.add_argument("--no-bf16", dest="bf16", action="store_false", help="float32 on GPU too")
    p.add_argument("--quiet", dest="progress", action="store_false", help="no progress bar")


def _prompts(args) -> list[str]:
    from uer_ray.errors import InputError, OptionsError

    if args.prompt is not None:
        return list(args.prompt)
    if not args.out:
        raise OptionsError("--input needs --out (the TSV to write the generations to)")
    try:
        with open(args.input, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise InputError("no such prompt file", args.input) from None
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text ({e.reason} at byte {e.start})", args.input) from None
    if not any(line.strip() for line in lines):
        raise InputError("no prompts: the file is empty (one prompt per line)", args.input)
    return lines


def _cell(text: str) -> str:
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def run(args: argparse.Namespace) -> int:
    import time

    from uer_ray.generate import GenerateOptions, generate
    from uer_ray.train.devices import check_device, resolve_device

    check_device(args.device)
    prompts = _prompts(args)
    stop = [] if args.no_stop else (args.stop or ["[SEP]"])
    options = GenerateOptions(
        max_new_tokens=args.max_new_tokens, beams=args.beams, sample=args.sample,
        temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
        repetition_penalty=args.repetition_penalty, length_penalty=args.length_penalty,
        early_stopping=args.early_stopping, num_return=args.num_return, stop=stop, seed=args.seed,
        long_prompt=args.long_prompt, cache=args.cache, batch_size=args.batch_size, target=args.target)
    device = resolve_device(args.device)

    import uer_ray

    model = uer_ray.load_model(_checkpoint(args))
    from tqdm.auto import tqdm

    start = time.perf_counter()
    with tqdm(total=len(prompts), desc="generate", unit="prompt", leave=False,
              disable=not args.progress or len(prompts) < 2) as bar:
        results = generate(model, prompts, options, device=device, bf16=args.bf16, progress=bar.update)
    seconds = time.perf_counter() - start
    tokens = sum(len(ids) for r in results for ids in r.ids)
    if args.out:
        from uer_ray.atomic import atomic_file

        several = options.num_return > 1
        header = ["prompt", *(["rank"] if several else []), "text", *(["score"] if args.probs else [])]
        with atomic_file(args.out) as f:
            f.write("\t".join(header) + "\n")
            for r in results:
                for k, (text, score) in enumerate(zip(r.texts, r.scores, strict=True)):
                    row = [_cell(r.prompt), *([str(k + 1)] if several else []), _cell(text),
                           *([f"{score:.4f}"] if args.probs else [])]
                    f.write("\t".join(row) + "\n")
        print(f"Generated {tokens:,} tokens for {len(results):,} prompts on {device} in "
              f"{seconds:.1f} s ({tokens / max(seconds, 1e-9):.0f} tokens/s); wrote {args.out}.")
    else:
        from uer_ray.tokenizers.base import join_cjk

        continues = _continues(model, options)
        for r in results:
            for k, (text, score) in enumerate(zip(r.texts, r.scores, strict=True)):
                rank = f"[{k + 1}] " if len(r.texts) > 1 else ""
                probs = f"\t({score:.3f})" if args.probs else ""
                shown = join_cjk(f"{r.prompt} {text}") if continues else text
                print(f"{rank}{shown}{probs}")
    truncated = sum(1 for r in results if r.truncated)
    if truncated:
        print(f"uer-ray generate: {truncated} prompt(s) cut at the start to fit the model's "
              "positions (--long-prompt truncate)", file=sys.stderr)
    return 0


def _continues(model, options) -> bool:
    from uer_ray.generate import generating_target

    return generating_target(model, options.target)[1].generates == "continuation"


def _checkpoint(args) -> str:
    from uer_ray.models.checkpoint import checkpoint_folder
    from uer_ray.zoo import resolve_checkpoint

    return str(checkpoint_folder(resolve_checkpoint(args.model, zoo=args.zoo)))
