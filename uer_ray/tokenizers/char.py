"""``char``: one token per non-space character (one per CJK character) over a ``vocab.txt``;
whitespace is dropped."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from pathlib import Path

from tokenizers import Tokenizer as RustTokenizer

from uer_ray.tokenizers.base import (
    SPECIAL_TOKENS,
    TOKENIZERS,
    VocabTokenizer,
    word_level,
    write_tokens,
)


@TOKENIZERS.register("char")
class CharTokenizer(VocabTokenizer):
    """One token per non-space character (one per CJK character); whitespace is dropped."""

    joiner = ""

    def _backend(self, vocab: dict[str, int]) -> RustTokenizer:
        return word_level(vocab, self, per_char=True)

    @classmethod
    def train_vocab(cls, lines: Callable[[], Iterator[str]], size: int, out: Path,
                    lowercase: bool) -> int:
        """The ``size - 5`` most frequent non-space characters (ties: first seen)."""
        counts: collections.Counter[str] = collections.Counter()
        for line in lines():
            counts.update(c for c in (line.lower() if lowercase else line) if not c.isspace())
        chars = [c for c, _ in counts.most_common() if c not in SPECIAL_TOKENS]
        return write_tokens(list(SPECIAL_TOKENS) + chars[: size - len(SPECIAL_TOKENS)], out)
