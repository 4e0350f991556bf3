"""Building a vocabulary from a corpus with a tokenizer's own ``train_vocab`` (WordPiece and
character ``vocab.txt``, a SentencePiece ``.model``). Every result starts with
``[PAD] [UNK] [CLS] [SEP] [MASK]`` at ids 0-4.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from uer_ray.errors import InputError
from uer_ray.tokenizers.base import SPECIAL_TOKENS, TOKENIZERS, Tokenizer


def vocab_kinds() -> list[str]:
    """The tokenizers that can build their own vocabulary (``train_vocab``)."""
    return [n for n, cls in TOKENIZERS.items() if cls.train_vocab.__func__ is not Tokenizer.train_vocab.__func__]


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
    kinds = vocab_kinds()
    if kind not in kinds:
        raise InputError(f"unknown vocabulary kind {kind!r} (choose from {', '.join(kinds)})")
    paths = _check_inputs(corpus, size)
    out = Path(out)
    n = TOKENIZERS.get(kind).train_vocab(lambda: _lines(paths), size, out, lowercase)
    return {"kind": kind, "size": n, "path": str(out)}
