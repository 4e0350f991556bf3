"""Word boundaries for whole-word masking of text written without spaces (Chinese).

BERT vocabularies (and the ``char`` tokenizer) make every Chinese character a token of its own,
with no ``##`` piece, so the tokens alone say nothing about words. As UER-py's
``--whole_word_masking`` does, the corpus is segmented with jieba; here that happens once, at
preprocessing (``--segment jieba``), and each token of a shard row records whether it continues
the word of the token before it: the ``continues_word`` column (list<int8>, 1 = same word).
``whole_word`` and ``span`` masking then pick jieba words. Shards without the column keep the
vocabulary's ``##``/``▁`` words, and pre-training refuses those two strategies on them when the
text is Chinese (``cjk_share``): they would silently mask single characters.

Alignment rule: a token *continues* a word when its first character is not the first character
of a jieba word, or when the tokenizer glues it to the token before (a WordPiece ``##`` piece,
a SentencePiece piece without ``▁``) and it holds no CJK character. So a jieba word of three
characters is three character tokens and one word; a word the tokenizer splits further
(``iphone ##12``) stays one word, also where jieba cuts inside it (``42 ##℃``); a token that
spans a jieba boundary (a SentencePiece piece such as ``在北京``) joins the words it covers; an
``[UNK]`` starts a word where its text does; ``[CLS]``/``[SEP]`` always start one. The ids are
the tokenizer's own: segmentation adds the column and changes no id.

How the flags reach the column: while a chunk is processed, ``WordMarking`` stands in for the
processor's tokenizer and returns the id of each continuing token with ``WORD_FLAG`` set.
Processors move ids around (packing, pairing, trimming) and never compute with them, so a flag
travels with its token; ``split_word_flags`` turns it into the column before the shard is written.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from uer_ray.data.instances import list_column
from uer_ray.errors import InputError

WORD_COLUMN = "continues_word"
SEGMENTERS = ("jieba",)
WORD_FLAG = 1 << 30
"""marks a continuing token's id inside a processor (vocabularies are far smaller)"""
CJK_LIMIT = 0.01
"""share of CJK tokens from which word-level masking needs segmented shards"""

# BERT's CJK ideograph blocks (the characters its tokenizer splits one by one)
_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df"
                  "\U0002a700-\U0002b73f\U0002b740-\U0002b81f\U0002b820-\U0002ceaf"
                  "\U0002f800-\U0002fa1f]")
_segmenters: dict[str, Any] = {}
_cjk_tables: dict[tuple[str, str], np.ndarray] = {}


def segmenter_info(name: str) -> dict:
    """What the manifest records about the segmenter (its version fixes the dictionary)."""
    if name not in SEGMENTERS:
        raise InputError(f"unknown word segmenter {name!r}; known: {', '.join(SEGMENTERS)}")
    try:
        import jieba
    except ImportError:
        raise InputError("--segment jieba needs the jieba package: pip install jieba") from None
    return {"name": name, "version": jieba.__version__}


def _segmenter(name: str):
    """jieba's tokenizer, built once per process (loading its dictionary takes about a second)."""
    if name not in _segmenters:
        import jieba

        jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict ..." lines on stderr
        seg = jieba.Tokenizer()  # our own instance: no user dictionary of this process leaks in
        seg.initialize()
        _segmenters[name] = seg
    return _segmenters[name]


def segment(texts: list[str], segmenter: str = "jieba") -> list[list[str]]:
    """The words of every text (jieba's default mode, with its HMM for unknown words, as UER-py
    uses it). The words of a text add up to the text; each space is a word of its own."""
    seg = _segmenter(segmenter)
    return [seg.lcut(t) for t in texts]


def word_lengths(texts: list[str], segmenter: str = "jieba") -> np.ndarray:
    """Lengths in characters of the words of every text, in order."""
    return np.fromiter((len(w) for ws in segment(texts, segmenter) for w in ws), dtype=np.int64)


def cjk_tokens(tokenizer) -> np.ndarray:
    """Bool per id: the vocabulary entry holds a CJK ideograph."""
    key = (tokenizer.kind, tokenizer.sha256)
    if key not in _cjk_tables:
        _cjk_tables[key] = np.array([_CJK.search(tokenizer.id_to_token(i)) is not None
                                     for i in range(tokenizer.vocab_size)], dtype=bool)
    return _cjk_tables[key]


def glued_pieces(tokenizer) -> np.ndarray:
    """Bool per id: the tokenizer glues the piece to the one before (``##``, no ``▁``) and it
    holds no CJK character (a SentencePiece model marks no word inside Chinese text)."""
    return tokenizer.continuation_mask() & ~cjk_tokens(tokenizer)


def continues_word(tokenizer, texts: list[str], segmenter: str = "jieba",
                   glued: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ids, offsets, continues)``: ``tokenizer.encode_flat(texts)`` and, per token, whether
    it continues the word of the token before it (the alignment rule of this module).

    Most texts need no character offsets: where a text's ids are its words' ids end to end, a
    word starts at the first token of each word, which is what the rule gives. Only the other
    texts (a word the tokenizer splits differently inside the sentence, ``42℃``; every text for
    SentencePiece, whose pieces change at a word's start) go through ``encode_starts``, which
    costs as much as jieba itself."""
    words = segment(texts, segmenter)
    glued = glued_pieces(tokenizer) if glued is None else glued
    flat, offsets = tokenizer.encode_flat(texts)
    cont, done = _by_words(tokenizer, flat, offsets, words)
    redo = np.flatnonzero(~done)
    if len(redo):
        where = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in redo])
        ids, _, cont[where] = _by_offsets(tokenizer, [texts[i] for i in redo],
                                          [words[i] for i in redo], glued)
        if not np.array_equal(ids, flat[where]):
            raise RuntimeError(f"the {tokenizer.kind} tokenizer's encode_starts and encode_flat "
                               "give different ids")
    return flat, offsets, cont


def _by_words(tokenizer, flat, offsets, words) -> tuple[np.ndarray, np.ndarray]:
    """Continuation flags for the texts whose ids equal their words' ids end to end (first token
    of a word: 0, the rest: 1), and which texts those are."""
    n_words = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
    w_flat, w_off = tokenizer.encode_flat([w for ws in words for w in ws])
    text_words = np.r_[0, np.cumsum(n_words)]
    line_len, words_len = np.diff(offsets), np.diff(w_off[text_words])
    same = line_len == words_len
    in_line, in_words = np.repeat(same, line_len), np.repeat(same, words_len)
    differ = flat[in_line] != w_flat[in_words]  # texts of equal length, token by token
    same[np.repeat(np.flatnonzero(same), line_len[same])[differ]] = False
    in_line, in_words = np.repeat(same, line_len), np.repeat(same, words_len)
    word_first = np.zeros(len(w_flat), dtype=bool)
    word_first[w_off[:-1][np.diff(w_off) > 0]] = True
    cont = np.ones(len(flat), dtype=bool)
    cont[in_line] = ~word_first[in_words]
    return cont, same


def _by_offsets(tokenizer, texts, words, glued) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The alignment rule from character offsets: ``(ids, offsets, continues)``."""
    flat, offsets, starts = tokenizer.encode_starts(texts)
    lengths = np.fromiter((len(w) for ws in words for w in ws), dtype=np.int64)
    text_start = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in texts], out=text_start[1:])
    if int(lengths.sum()) != int(text_start[-1]):
        raise RuntimeError("the word segmenter returned words that do not add up to the text")
    word_start = np.zeros(int(text_start[-1]) + 1, dtype=bool)  # over all texts, end to end
    word_start[np.cumsum(lengths) - lengths] = True
    first_char = np.repeat(text_start[:-1], np.diff(offsets)) + starts
    return flat, offsets, glued[flat] | ~word_start[first_char]


class WordMarking:
    """Stands in for a processor's tokenizer when it segments (``ProcessorConfig.segment``):
    ``encode_flat`` returns the tokenizer's ids with ``WORD_FLAG`` set on every token that
    continues a word. Processors only call ``encode_flat``."""

    def __init__(self, tokenizer, segmenter: str):
        segmenter_info(segmenter)  # here, on the driver: jieba is missing, or the name unknown
        if tokenizer.vocab_size >= WORD_FLAG:
            raise InputError(f"a vocabulary of {tokenizer.vocab_size} entries is too large to segment")
        tokenizer.encode_starts(["a"])  # the tokenizer can say where its tokens start
        self.tokenizer, self.segmenter = tokenizer, segmenter
        self.glued = glued_pieces(tokenizer)

    def encode_flat(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        flat, offsets, cont = continues_word(self.tokenizer, list(texts), self.segmenter, self.glued)
        return np.where(cont, flat | WORD_FLAG, flat).astype(np.int32), offsets


def split_word_flags(table: pa.Table) -> pa.Table:
    """A processor's table made with ``WordMarking``: ``input_ids`` without the flags, plus the
    ``continues_word`` column (list<int8>, the same shape as ``input_ids``)."""
    ids = table["input_ids"].combine_chunks()
    flat = pc.list_flatten(ids).to_numpy(zero_copy_only=False).astype(np.int32)
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(pc.list_value_length(ids).to_numpy(zero_copy_only=False), out=offsets[1:])
    plain = list_column(flat & (WORD_FLAG - 1), offsets)
    flags = list_column((flat >> 30) & 1, offsets, np.int8)
    where = table.column_names.index("input_ids")
    return table.set_column(where, "input_ids", plain).append_column(WORD_COLUMN, flags)


def sample_ids(files: list[str], rows: int = 1024, files_at_most: int = 16) -> np.ndarray:
    """Token ids of the first ``rows`` rows of up to ``files_at_most`` shards spread over the
    list (the first shard alone may hold another language than the rest)."""
    import pyarrow.parquet as pq

    picked = [files[int(i)] for i in np.unique(np.linspace(0, len(files) - 1, files_at_most).round())] \
        if files else []
    parts = [np.zeros(0, dtype=np.int64)]
    for f in picked:
        batch = next(pq.ParquetFile(f).iter_batches(batch_size=rows, columns=["input_ids"]), None)
        if batch is not None:
            parts.append(pc.list_flatten(batch.column(0)).to_numpy(zero_copy_only=False))
    return np.concatenate(parts)


def cjk_share(ids: np.ndarray, tokenizer) -> float:
    """Share of ``ids`` (special tokens left out) whose vocabulary entry holds a CJK character."""
    ids = ids[~np.isin(ids, list(tokenizer.special_ids.values()))]
    return float(cjk_tokens(tokenizer)[ids].mean()) if len(ids) else 0.0
