"""``python run.py vocab``: build a vocabulary (WordPiece vocab.txt, SentencePiece .model, or
characters) from corpus files, with ``[PAD] [UNK] [CLS] [SEP] [MASK]`` at ids 0-4; with
``--sentinels N``, T5's sentinel tokens ``<extra_id_0>`` .. after it, also added to an existing
``--vocab`` / ``--spm-model`` instead of a built one (``uer_ray.tokenizers.sentinels``)."""

from __future__ import annotations

import argparse
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from uer_ray.tokenizers import vocab_kinds

    parser.add_argument("--corpus", nargs="+", help="corpus text file(s), UTF-8 (to build a vocabulary)")
    parser.add_argument("--tokenizer", choices=vocab_kinds(), help="kind of vocabulary to build")
    parser.add_argument("--size", type=int, help="vocabulary size (at most), sentinels not counted")
    parser.add_argument("--out", required=True, help="output file (vocab.txt, or a .model)")
    parser.add_argument(
        "--case", choices=["lower", "keep"], default=None,
        help="lower-case text first (default: keep for sentencepiece, lower for the others)",
    )
    parser.add_argument("--sentinels", type=int, default=0,
                        help="append this many sentinel tokens <extra_id_0>, <extra_id_1>, ... "
                        "(the t5 processor needs them; T5 and UER-py use 100)")
    parser.add_argument("--vocab", help="instead of building: an existing vocab.txt to add --sentinels to")
    parser.add_argument("--spm-model", help="instead of building: an existing SentencePiece model "
                        "to add --sentinels to")


def run(args: argparse.Namespace) -> int:
    from uer_ray.errors import OptionsError
    from uer_ray.tokenizers import TOKENIZERS, build_tokenizer, build_vocab
    from uer_ray.tokenizers.sentinels import add_sentinels

    existing = args.vocab or args.spm_model
    if existing:
        if args.vocab and args.spm_model:
            raise OptionsError("give --vocab or --spm-model, not both")
        if args.corpus or args.size is not None:
            raise OptionsError("--vocab/--spm-model add sentinels to an existing vocabulary; "
                               "--corpus and --size build a new one: give one or the other")
        if args.sentinels < 1:
            raise OptionsError("--vocab/--spm-model need --sentinels N: how many sentinel tokens to add")
        s = add_sentinels(existing, args.sentinels, args.out, spm_model=bool(args.spm_model))
        print(f"Wrote {args.out}: {existing} with {s['count']} sentinel tokens <extra_id_0> .. "
              f"<extra_id_{s['count'] - 1}> at ids {s['first_id']}-{s['size'] - 1} ({s['size']} entries).")
        return 0
    missing = [o for o, v in (("--corpus", args.corpus), ("--tokenizer", args.tokenizer),
                              ("--size", args.size)) if v is None]
    if missing:
        raise OptionsError(f"building a vocabulary needs {', '.join(missing)} (or add sentinels "
                           "to an existing one with --vocab/--spm-model and --sentinels)")
    if args.sentinels < 0:
        raise OptionsError(f"--sentinels must not be negative, got {args.sentinels}")
    cls = TOKENIZERS.get(args.tokenizer)
    lowercase = args.case == "lower" if args.case else cls.lowercase_by_default
    start = time.time()
    print(f"building a {args.tokenizer} vocabulary of up to {args.size} entries from "
          f"{len(args.corpus)} file(s) ...", flush=True)
    summary = build_vocab(args.corpus, args.tokenizer, args.size, args.out, lowercase=lowercase)
    sentinels = ""
    if args.sentinels:
        s = add_sentinels(args.out, args.sentinels, args.out, spm_model=cls.file_option == "spm_model")
        sentinels = (f" + {s['count']} sentinel tokens <extra_id_0> .. <extra_id_{s['count'] - 1}> "
                     f"at ids {s['first_id']}-{s['size'] - 1}")
    kind = args.tokenizer
    tok = build_tokenizer(kind, vocab=args.out, spm_model=args.out, lowercase=lowercase)
    print(
        f"Wrote a {kind} vocabulary of {summary['size']} entries{sentinels} to {args.out} in "
        f"{time.time() - start:.1f} s (sha256 {tok.sha256[:12]}, "
        f"{'lower-cased' if lowercase else 'case kept'}); special ids {tok.special_ids}. "
        f"Use it with `python run.py preprocess --tokenizer {kind} "
        f"--{cls.file_option.replace('_', '-')} {args.out} ...`."
    )
    return 0
