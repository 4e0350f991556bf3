"""``python run.py vocab``: build a vocabulary (WordPiece vocab.txt, SentencePiece .model, or
characters) from corpus files, with ``[PAD] [UNK] [CLS] [SEP] [MASK]`` at ids 0-4."""

from __future__ import annotations

import argparse
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", nargs="+", required=True, help="corpus text file(s), UTF-8")
    from uer_ray.tokenizers import vocab_kinds

    parser.add_argument("--tokenizer", required=True, choices=vocab_kinds())
    parser.add_argument("--size", type=int, required=True, help="vocabulary size (at most)")
    parser.add_argument("--out", required=True, help="output file (vocab.txt, or a .model)")
    parser.add_argument(
        "--case", choices=["lower", "keep"], default=None,
        help="lower-case text first (default: keep for sentencepiece, lower for the others)",
    )


def run(args: argparse.Namespace) -> int:
    from uer_ray.tokenizers import TOKENIZERS, build_tokenizer, build_vocab

    cls = TOKENIZERS.get(args.tokenizer)
    lowercase = args.case == "lower" if args.case else cls.lowercase_by_default
    start = time.time()
    print(f"building a {args.tokenizer} vocabulary of up to {args.size} entries from "
          f"{len(args.corpus)} file(s) ...", flush=True)
    summary = build_vocab(args.corpus, args.tokenizer, args.size, args.out, lowercase=lowercase)
    kind = args.tokenizer
    tok = build_tokenizer(kind, vocab=args.out, spm_model=args.out, lowercase=lowercase)
    print(
        f"Wrote a {kind} vocabulary of {summary['size']} entries to {args.out} in "
        f"{time.time() - start:.1f} s (sha256 {tok.sha256[:12]}, "
        f"{'lower-cased' if lowercase else 'case kept'}); special ids {tok.special_ids}. "
        f"Use it with `python run.py preprocess --tokenizer {kind} "
        f"--{cls.file_option.replace('_', '-')} {args.out} ...`."
    )
    return 0
