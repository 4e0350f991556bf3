"""``wordpiece``: BERT's tokenizer over a ``vocab.txt`` (Devlin et al., 2019), on the Hugging Face
``tokenizers`` Rust library: clean text, split CJK characters and punctuation, optional
lower-casing with accent stripping, then greedy longest-match-first WordPiece with ``##``
continuations and at most 100 characters per word. Its ids equal those of transformers'
``BertTokenizer`` for the same vocabulary and casing (tested on real corpora); batches go through
a vectorised path (``wordpiece_fast``) where the text allows it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer as RustTokenizer
from tokenizers import normalizers, pre_tokenizers
from tokenizers.decoders import WordPiece as WordPieceDecoder
from tokenizers.models import WordPiece

from uer_ray.tokenizers.base import (
    SPECIAL_TOKENS,
    TOKENIZERS,
    VocabTokenizer,
    flatten,
    write_tokens,
)
from uer_ray.tokenizers.wordpiece_fast import FastWordPiece

GROUP_CHARS = 1 << 20


@TOKENIZERS.register("wordpiece")
class WordPieceTokenizer(VocabTokenizer):
    """BERT WordPiece over a vocab.txt; ``##`` marks a word continuation."""

    _fast: FastWordPiece | None = None  # built on first batch encode (tables take ~0.1 s)

    def _backend(self, vocab: dict[str, int]) -> RustTokenizer:
        if "[UNK]" not in vocab:
            from uer_ray.errors import InputError

            raise InputError("a WordPiece vocabulary needs an [UNK] token", self.source)
        tok = RustTokenizer(WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
        tok.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=self.lowercase
        )
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = WordPieceDecoder(prefix="##")
        return tok

    def decode(self, ids: list[int]) -> str:
        return self._rust.decode([int(i) for i in ids], skip_special_tokens=False)

    def __reduce__(self):
        tables = (self._fast.kind, self._fast.ids) if self._fast is not None else None
        return (_rebuild_wordpiece, (self._data, self.source, self.lowercase, tables))

    def encode_flat(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """As ``Tokenizer.encode_flat``, through the vectorised path when the text allows it,
        in groups of about a million characters (bounded memory, cache-friendly arrays)."""
        texts = list(texts)
        if self._fast is None:
            self._fast = FastWordPiece(self._rust)
        parts, start, size = [], 0, 0
        for i, t in enumerate(texts):
            size += len(t) + 1
            if size >= GROUP_CHARS or i == len(texts) - 1:
                parts.append(self._encode_group(texts[start:i + 1]))
                start, size = i + 1, 0
        if not parts:
            return np.zeros(0, np.int32), np.zeros(1, np.int64)
        flat = np.concatenate([p[0] for p in parts])
        shifts = np.cumsum([0] + [len(p[0]) for p in parts[:-1]])
        offsets = np.concatenate([[0]] + [p[1][1:] + k for p, k in zip(parts, shifts, strict=True)])
        return flat, offsets.astype(np.int64)

    def _encode_group(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        joined = "\n".join(texts)
        if self._fast.usable(joined, len(texts)):
            try:
                return self._fast.encode_joined(joined)
            except UnicodeEncodeError:  # lone surrogates: let the Rust pipeline decide
                pass
        return flatten(VocabTokenizer.encode_batch(self, texts))

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        flat, offsets = self.encode_flat(texts)
        flat, offsets = flat.tolist(), offsets.tolist()
        return [flat[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]

    @classmethod
    def train_vocab(cls, lines: Callable[[], Iterator[str]], size: int, out: Path,
                    lowercase: bool) -> int:
        """BERT-style WordPiece: the same normaliser and pre-tokeniser as the tokenizer."""
        from tokenizers.trainers import WordPieceTrainer

        tok = RustTokenizer(WordPiece(unk_token="[UNK]"))
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
        tok.train_from_iterator(lines(), trainer=trainer)
        vocab = tok.get_vocab()
        tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
        # The trainer may overshoot by the alphabet; the last merges are the least useful ones.
        return write_tokens(tokens[:size], out)


def _rebuild_wordpiece(data, source, lowercase, tables) -> WordPieceTokenizer:
    """Unpickling: rebuild from the vocabulary bytes and reuse the fast-path tables."""
    tok = WordPieceTokenizer(data, source, lowercase)
    if tables is not None:
        tok._fast = FastWordPiece(tok._rust, tables)
    return tok
