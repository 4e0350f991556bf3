"""``space``: one token per whitespace-separated word over a ``vocab.txt`` (for pre-tokenised
text)."""

from __future__ import annotations

from tokenizers import Tokenizer as RustTokenizer

from uer_ray.tokenizers.base import TOKENIZERS, VocabTokenizer, word_level


@TOKENIZERS.register("space")
class SpaceTokenizer(VocabTokenizer):
    """One token per whitespace-separated word (for pre-tokenised text)."""

    def _backend(self, vocab: dict[str, int]) -> RustTokenizer:
        return word_level(vocab, self, per_char=False)
