"""Tokenizers over a ``vocab.txt`` (one token per line, id = line number): ``wordpiece`` (BERT),
``char`` and ``space``. All three run on the Hugging Face ``tokenizers`` Rust library, so batch
encoding is fast enough for preprocessing tens of millions of tokens.

``wordpiece`` is BERT's pipeline (Devlin et al., 2019): clean text, split CJK characters and
punctuation, optional lower-casing with accent stripping, then greedy longest-match-first
WordPiece with ``##`` continuations and at most 100 characters per word. Its ids equal those of
transformers' ``BertTokenizer`` for the same vocabulary and casing (tested on real corpora).
"""

from __future__ import annotations

import numpy as np
from tokenizers import Regex, normalizers, pre_tokenizers
from tokenizers import Tokenizer as RustTokenizer
from tokenizers.decoders import WordPiece as WordPieceDecoder
from tokenizers.models import WordLevel, WordPiece

from uer_ray.tokenizers.base import (
    SPECIAL_TOKENS,
    TOKENIZERS,
    Tokenizer,
    flatten,
    guess_lowercase,
    vocab_lines,
)
from uer_ray.tokenizers.wordpiece_fast import FastWordPiece

GROUP_CHARS = 1 << 20


class VocabTokenizer(Tokenizer):
    """A vocab.txt tokenizer backed by a Rust ``tokenizers.Tokenizer`` built in ``_backend``."""

    joiner = " "  # how decode joins tokens (WordPiece uses its own decoder)

    def __init__(self, data: bytes, source: str, lowercase: bool | None):
        tokens = vocab_lines(data, source)
        if lowercase is None:
            lowercase = guess_lowercase(tokens)
        super().__init__(data, source, lowercase)
        self._tokens = tokens
        # Later duplicates win, as in BERT's load_vocab.
        self._vocab = {t: i for i, t in enumerate(tokens)}
        self._rust = self._backend(self._vocab)
        # Special tokens are matched whole in text (as transformers does), never split.
        present = [t for t in SPECIAL_TOKENS if t in self._vocab]
        self._rust.add_special_tokens(present)

    def _backend(self, vocab: dict[str, int]) -> RustTokenizer:
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        return len(self._tokens)

    def tokenize(self, text: str) -> list[str]:
        return self._rust.encode(text, add_special_tokens=False).tokens

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        encs = self._rust.encode_batch_fast(texts, add_special_tokens=False)
        return [e.ids for e in encs]

    def decode(self, ids: list[int]) -> str:
        return self.joiner.join(self._tokens[int(i)] for i in ids)

    def id_to_token(self, i: int) -> str:
        return self._tokens[int(i)]

    def token_to_id(self, token: str) -> int | None:
        return self._vocab.get(token)

    @property
    def tokens(self) -> list[str]:
        """The vocabulary in id order (a copy)."""
        return list(self._tokens)


@TOKENIZERS.register("wordpiece")
class WordPieceTokenizer(VocabTokenizer):
    """BERT WordPiece over a vocab.txt; ``##`` marks a word continuation."""

    kind = "wordpiece"

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


def _rebuild_wordpiece(data, source, lowercase, tables) -> WordPieceTokenizer:
    """Unpickling: rebuild from the vocabulary bytes and reuse the fast-path tables."""
    tok = WordPieceTokenizer(data, source, lowercase)
    if tables is not None:
        tok._fast = FastWordPiece(tok._rust, tables)
    return tok


def _word_level(vocab: dict[str, int], tokenizer: Tokenizer, per_char: bool) -> RustTokenizer:
    unk = "[UNK]" if "[UNK]" in vocab else next(iter(vocab))
    tok = RustTokenizer(WordLevel(vocab, unk_token=unk))
    if tokenizer.lowercase:
        tok.normalizer = normalizers.Lowercase()
    steps = [pre_tokenizers.WhitespaceSplit()]
    if per_char:
        steps.append(pre_tokenizers.Split(Regex("."), behavior="isolated"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(steps)
    return tok


@TOKENIZERS.register("char")
class CharTokenizer(VocabTokenizer):
    """One token per non-space character (one per CJK character); whitespace is dropped."""

    kind = "char"
    joiner = ""

    def _backend(self, vocab: dict[str, int]) -> RustTokenizer:
        return _word_level(vocab, self, per_char=True)


@TOKENIZERS.register("space")
class SpaceTokenizer(VocabTokenizer):
    """One token per whitespace-separated word (for pre-tokenised text)."""

    kind = "space"

    def _backend(self, vocab: dict[str, int]) -> RustTokenizer:
        return _word_level(vocab, self, per_char=False)
