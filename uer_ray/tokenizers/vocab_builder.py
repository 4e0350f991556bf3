"""Building a vocabulary from a corpus: WordPiece (``vocab.txt``), SentencePiece (``.model``) or
characters (``vocab.txt``). Every result starts with ``[PAD] [UNK] [CLS] [SEP] [MASK]`` at ids 0-4.
"""

from __future__ import annotations

import collections
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from uer_ray.atomic import atomic_file
from uer_ray.errors import InputError
from uer_ray.tokenizers.base import SPECIAL_TOKENS

VOCAB_KINDS = ("wordpiece", "sentencepiece", "char")


def _lines(corpus: list[Path]) -> Iterator[str]:
    for path in corpus:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if line:
                    yield line


def _check_inputs(corpus: list[str | Path], size: int) -> list[Path]:
    paths = [Path(p) for p in corpus]
    for p in paths:
        if not p.is_file():
            raise InputError("corpus file not found", str(p))
    if size <= len(SPECIAL_TOKENS):
        raise InputError(f"--size must exceed the {len(SPECIAL_TOKENS)} special tokens, got {size}")
    if not any(True for _ in _lines(paths)):
        raise InputError("corpus has no non-empty line", ", ".join(map(str, paths)))
    return paths


def build_vocab(corpus: list[str | Path], kind: str, size: int, out: str | Path,
                lowercase: bool = True) -> dict:
    """Train a ``kind`` vocabulary of at most ``size`` entries on ``corpus``; write it to ``out``
    atomically. Returns a summary (kind, size, path)."""
    if kind not in VOCAB_KINDS:
        raise InputError(f"unknown vocabulary kind {kind!r} (choose from {', '.join(VOCAB_KINDS)})")
    paths = _check_inputs(corpus, size)
    out = Path(out)
    builder = {"wordpiece": _wordpiece, "sentencepiece": _sentencepiece, "char": _chars}[kind]
    n = builder(paths, size, out, lowercase)
    return {"kind": kind, "size": n, "path": str(out)}


def _write_tokens(tokens: list[str], out: Path) -> int:
    with atomic_file(out) as f:
        for t in tokens:
            f.write(t + "\n")
    return len(tokens)


def _chars(paths: list[Path], size: int, out: Path, lowercase: bool) -> int:
    """The ``size - 5`` most frequent non-space characters (ties: first seen)."""
    counts: collections.Counter[str] = collections.Counter()
    for line in _lines(paths):
        counts.update(c for c in (line.lower() if lowercase else line) if not c.isspace())
    chars = [c for c, _ in counts.most_common() if c not in SPECIAL_TOKENS]
    return _write_tokens(list(SPECIAL_TOKENS) + chars[: size - len(SPECIAL_TOKENS)], out)


def _wordpiece(paths: list[Path], size: int, out: Path, lowercase: bool) -> int:
    """BERT-style WordPiece: the same normaliser and pre-tokeniser the ``wordpiece`` tokenizer uses."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordPiece
    from tokenizers.trainers import WordPieceTrainer

    tok = Tokenizer(WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = WordPieceTrainer(
        vocab_size=size, special_tokens=list(SPECIAL_TOKENS), show_progress=False,
        continuing_subword_prefix="##",
        # Each alphabet character also enters as "##c"; cap it so merges still get room (a
        # Chinese corpus has thousands of characters).
        limit_alphabet=max(50, int(0.8 * (size - len(SPECIAL_TOKENS)))),
    )
    tok.train_from_iterator(_lines(paths), trainer=trainer)
    vocab = tok.get_vocab()
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    # The trainer may overshoot by the alphabet; the last merges are the least useful ones.
    return _write_tokens(tokens[:size], out)


def _sentencepiece(paths: list[Path], size: int, out: Path, lowercase: bool) -> int:
    """A unigram SentencePiece model with the special tokens as its first five pieces."""
    import sentencepiece as spm

    work = Path(tempfile.mkdtemp(prefix="uer-ray-spm-"))
    try:
        text = work / "corpus.txt"
        with open(text, "w", encoding="utf-8") as f:
            for line in _lines(paths):
                f.write((line.lower() if lowercase else line) + "\n")
        try:
            spm.SentencePieceTrainer.train(
                input=str(text), model_prefix=str(work / "m"), vocab_size=size,
                pad_id=0, pad_piece="[PAD]", unk_id=1, unk_piece="[UNK]", bos_id=-1, eos_id=-1,
                control_symbols=["[CLS]", "[SEP]", "[MASK]"], character_coverage=0.9995,
                hard_vocab_limit=False, minloglevel=2, num_threads=os.cpu_count() or 1,
            )
        except RuntimeError as e:  # e.g. "Vocabulary size is smaller than required_chars"
            msg = str(e).split("] ")[-1]
            raise InputError(f"sentencepiece could not train a {size}-entry model: {msg}") from None
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(out, "wb") as f:
            f.write((work / "m.model").read_bytes())
        return spm.SentencePieceProcessor(model_file=str(out)).get_piece_size()
    finally:
        shutil.rmtree(work, ignore_errors=True)
