"""``python run.py preprocess``: corpus files → Parquet training shards + manifest.json, with
Ray Data (an embedded local cluster unless ``--address``/``RAY_ADDRESS`` names one)."""

from __future__ import annotations

import argparse
import re

from uer_ray.cluster import ADDRESS_HELP

CASES = {"auto": None, "lower": True, "keep": False}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from uer_ray.data.processors import PROCESSORS
    from uer_ray.data.words import SEGMENTERS
    from uer_ray.tokenizers import TOKENIZERS

    p = parser
    p.add_argument("--corpus", nargs="+", required=True, help="corpus file(s), UTF-8 text")
    p.add_argument("--processor", required=True, choices=PROCESSORS.names())
    p.add_argument("--tokenizer", required=True, choices=TOKENIZERS.names())
    p.add_argument("--vocab", help="vocab.txt (wordpiece, char, space)")
    p.add_argument("--spm-model", help="SentencePiece .model (sentencepiece)")
    p.add_argument("--case", choices=list(CASES), default="auto",
                   help="lower-case text (auto: as the vocabulary is; sentencepiece: keep)")
    p.add_argument("--seq-length", type=int, required=True, help="longest instance in tokens")
    p.add_argument("--out", required=True, help="output folder (replaced atomically)")
    g = p.add_argument_group("processor options")
    g.add_argument("--no-pack", action="store_true",
                   help="mlm/lm/bilm: one document per instance instead of filling every instance")
    g.add_argument("--short-seq-prob", type=float, default=0.1, help="bert/sop: share of shorter instances")
    g.add_argument("--labels", help="cls: comma-separated label names in id order (default: integer labels)")
    g.add_argument("--segment", choices=list(SEGMENTERS),
                   help="record word boundaries from this segmenter (a continues_word column): "
                   "pretrain --masking whole_word/span then masks whole Chinese words")
    g.add_argument("--tgt-tokenizer", choices=TOKENIZERS.names(), help="mt: target-side tokenizer")
    g.add_argument("--tgt-vocab", help="mt: target vocab.txt")
    g.add_argument("--tgt-spm-model", help="mt: target SentencePiece model")
    g.add_argument("--tgt-seq-length", type=int, help="mt, t5, bart, gsg: longest target, skipthought: "
                   "longest neighbour (default --seq-length)")
    g.add_argument("--span-density", type=float, default=0.15, help="t5: share of tokens corrupted (T5: 0.15)")
    g.add_argument("--span-length", type=float, default=3.0, help="t5: mean corrupted span length (T5: 3)")
    g.add_argument("--bart-noise", default="infilling,permutation",
                   help="bart: comma-separated noising functions out of permutation, deletion, "
                   "infilling (BART: infilling,permutation)")
    g.add_argument("--mask-ratio", type=float, default=0.3,
                   help="bart: share of tokens infilling masks and deletion deletes (BART: 0.3)")
    g.add_argument("--poisson-lambda", type=float, default=3.0,
                   help="bart: mean infilling span length, Poisson(lambda) (BART: 3)")
    g.add_argument("--gap-ratio", type=float, default=0.3, help="gsg: share of sentences masked (PEGASUS: 0.3)")
    g.add_argument("--gap-selection", choices=["lead", "random"], default="lead",
                   help="gsg: mask the first sentences or random ones (UER-py default: lead)")
    r = p.add_argument_group("run options")
    r.add_argument("--seed", type=int, default=0, help="same seed and input give identical rows")
    r.add_argument("--max-line-chars", type=int, default=200_000, help="longer lines are skipped")
    r.add_argument("--chunk-mb", type=float, help="corpus MB per task/shard (default: 1/8 of it, 1-32)")
    r.add_argument("--workers", type=int, help="tasks at once (default: cores here, or cluster CPUs)")
    r.add_argument("--address", help=ADDRESS_HELP)
    r.add_argument("--no-progress", action="store_true", help="no progress bar")


def _tokenizers(args):
    from uer_ray.tokenizers import build_tokenizer

    tok = build_tokenizer(args.tokenizer, vocab=args.vocab, spm_model=args.spm_model,
                          lowercase=CASES[args.case])
    tgt = None
    if args.tgt_tokenizer or args.tgt_vocab or args.tgt_spm_model:
        tgt = build_tokenizer(args.tgt_tokenizer or args.tokenizer, vocab=args.tgt_vocab,
                              spm_model=args.tgt_spm_model, lowercase=CASES[args.case])
    return tok, tgt


def run(args: argparse.Namespace) -> int:
    from uer_ray.data import ProcessorConfig, preprocess
    from uer_ray.errors import InputError

    try:
        config = ProcessorConfig(
            seq_length=args.seq_length, tgt_seq_length=args.tgt_seq_length, pack=not args.no_pack,
            short_seq_prob=args.short_seq_prob,
            labels=tuple(x.strip() for x in args.labels.split(",")) if args.labels else None,
            segment=args.segment, span_density=args.span_density, span_length=args.span_length,
            bart_noise=tuple(x.strip() for x in args.bart_noise.split(",") if x.strip()),
            mask_ratio=args.mask_ratio, poisson_lambda=args.poisson_lambda, gap_ratio=args.gap_ratio,
            gap_selection=args.gap_selection,
        )
    except ValueError as e:  # name the option as typed: "--mask-ratio must be in (0, 1), got 1.5"
        raise InputError(re.sub(r"^(\w+) must", lambda m: f"--{m[1].replace('_', '-')} must", str(e))) from None
    tok, tgt = _tokenizers(args)
    m = preprocess(args.corpus, args.out, processor=args.processor, tokenizer=tok, config=config,
                   tgt_tokenizer=tgt, seed=args.seed, max_line_chars=args.max_line_chars,
                   chunk_mb=args.chunk_mb, workers=args.workers, progress=not args.no_progress,
                   address=args.address)
    print(summary(m, args.out))
    return 0


def summary(m: dict, out: str) -> str:
    """The closing paragraph: what was read, made, skipped, and where it went."""
    mb = sum(c["bytes"] for c in m["corpus"]) / 2**20
    skipped = m["skipped"]
    skip_text = "nothing was skipped"
    if skipped["total"]:
        parts = [f"{n} {k.replace('_', ' ')}" for k, n in skipped["counts"].items()]
        first = next(iter(skipped["examples"].values()))[0]
        skip_text = f"{skipped['total']} lines were skipped ({', '.join(parts)}; e.g. {first})"
    rate = m["tokens"] / m["seconds"] if m["seconds"] else 0.0
    tok = m["tokenizer"]
    return (
        f"Preprocessed {len(m['corpus'])} file(s) ({mb:.1f} MB, {m['lines']} lines) with the "
        f"{m['processor']} processor and the {tok['kind']} tokenizer ({tok['vocab_file']}, "
        f"{tok['size']} entries) into {m['instances']} instances of at most {m['seq_length']} "
        f"tokens ({m['tokens']} tokens) in {len(m['shards'])} shard(s) under {out}, in "
        f"{m['seconds']:.1f} s ({rate / 1e6:.2f} M tokens/s); {skip_text}. "
        f"manifest.json records the vocabulary (sha256 {tok['sha256'][:12]}), counts and skips"
        + (f", and {m['segmenter']['name']} word boundaries (column continues_word)."
           if m.get("segmenter") else ".")
    )
