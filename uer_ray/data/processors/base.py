"""What every processor is (registry ``PROCESSORS``, one registered processor per file of this
folder, named after it): corpus lines → training instances, in the UER-py corpus formats
(DESIGN §3); and the shared machinery of the three corpus shapes: one document per line
(``StreamProcessor``: mlm, lm, bilm, ae; t5), tab-separated rows (``split_rows``: mt, cls,
cls_mlm, prefixlm) and sentences of blank-line-separated documents (``split_documents``: the
pairs of ``PairProcessor``'s bert and sop, the triples of skipthought, bart and gsg).

A processor works on one chunk at a time: a list of lines with their line numbers, a seeded
generator, and a ``SkipLog``. It returns an Arrow table with ``input_ids`` list<int32>,
``segment_ids`` list<int8> (0 pad, 1 first segment, 2 second) and its own extra columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa

from uer_ray.data.corpus import SkipLog
from uer_ray.data.instances import (
    cut_windows,
    gather_windows,
    list_column,
    rows_to_flat,
    segment_column,
    wrap_documents,
)
from uer_ray.data.words import SEGMENTERS, WORD_COLUMN, WordMarking, split_word_flags
from uer_ray.errors import OptionsError
from uer_ray.registry import Registry
from uer_ray.tokenizers import Tokenizer

BART_NOISE = ("permutation", "deletion", "infilling")
"""bart's noising functions (Lewis et al. 2020, §2.2), in the order they are applied"""
GAP_SELECTIONS = ("lead", "random")
"""gsg's ways of choosing gap sentences (PEGASUS's Lead and Random; its ROUGE-based Principal
selection is not implemented)"""


@dataclass(frozen=True)
class ProcessorConfig:
    """What a processor needs besides its tokenizer(s)."""

    seq_length: int = 128
    """longest instance, special tokens included"""
    tgt_seq_length: int | None = None
    """longest target (mt) or neighbour sentence (skipthought); defaults to seq_length"""
    pack: bool = True
    """mlm/lm/bilm: fill every instance across document boundaries (UER-py --full_sentences)"""
    short_seq_prob: float = 0.1
    """bert/sop: share of instances with a random shorter target length (BERT)"""
    labels: tuple[str, ...] | None = None
    """cls: label names in id order; None means labels are already integers"""
    segment: str | None = None
    """word segmenter (``jieba``) whose word boundaries go into the ``continues_word`` column,
    for whole-word masking of Chinese (``uer_ray.data.words``); None: no column"""

    span_density: float = 0.15
    """t5: share of a window's tokens that span corruption removes (the noise density of Raffel
    et al. 2020, §3.1.4; UER-py masks 15% too)"""
    span_length: float = 3.0
    """t5: mean length of a corrupted span (Raffel et al. 2020's default, 3)"""
    bart_noise: tuple[str, ...] = ("infilling", "permutation")
    """bart: the noising functions, applied in the order permutation, deletion, infilling
    (Lewis et al. 2020 pre-train BART with text infilling + sentence permutation, as UER-py)"""
    mask_ratio: float = 0.3
    """bart: share of tokens text infilling masks, and token deletion deletes (BART's 30%)"""
    poisson_lambda: float = 3.0
    """bart: infilling span lengths are drawn from Poisson(lambda) (BART's lambda = 3)"""
    gap_ratio: float = 0.3
    """gsg: share of an instance's sentences chosen as gap sentences (PEGASUS's 30%, the ratio
    UER-py fixes)"""
    gap_selection: str = "lead"
    """gsg: ``lead`` (the first sentences) or ``random`` (UER-py's
    ``--sentence_selection_strategy``, default lead)"""

    def __post_init__(self):
        if self.seq_length < 8:
            raise ValueError(f"seq_length must be at least 8, got {self.seq_length}")
        if self.tgt_seq_length is not None and self.tgt_seq_length < 3:
            raise ValueError(f"tgt_seq_length must be at least 3, got {self.tgt_seq_length}")
        if not 0 <= self.short_seq_prob <= 1:
            raise ValueError(f"short_seq_prob must be in [0, 1], got {self.short_seq_prob}")
        if self.segment is not None and self.segment not in SEGMENTERS:
            raise ValueError(f"unknown word segmenter {self.segment!r}; known: {', '.join(SEGMENTERS)}")
        if not 0 < self.span_density < 1:
            raise ValueError(f"span_density must be in (0, 1), got {self.span_density}")
        if not self.span_length >= 1:
            raise ValueError(f"span_length must be at least 1, got {self.span_length}")
        noise = tuple(self.bart_noise) if not isinstance(self.bart_noise, str) else (self.bart_noise,)
        object.__setattr__(self, "bart_noise", noise)
        for name in noise:
            if name not in BART_NOISE:
                raise ValueError(f"unknown bart noise {name!r}; known: {', '.join(BART_NOISE)}")
        if not noise or len(set(noise)) != len(noise):
            raise ValueError(f"bart_noise must name each of {', '.join(BART_NOISE)} at most once, "
                             f"and at least one; got {','.join(noise) or 'nothing'}")
        if not 0 < self.mask_ratio < 1:
            raise ValueError(f"mask_ratio must be in (0, 1), got {self.mask_ratio}")
        if not self.poisson_lambda > 0:
            raise ValueError(f"poisson_lambda must be positive, got {self.poisson_lambda}")
        if not 0 < self.gap_ratio < 1:
            raise ValueError(f"gap_ratio must be in (0, 1), got {self.gap_ratio}")
        if self.gap_selection not in GAP_SELECTIONS:
            raise ValueError(f"unknown gap_selection {self.gap_selection!r}; known: {', '.join(GAP_SELECTIONS)}")


class Processor:
    """Base class. A subclass declares ``columns`` (what its rows hold; pre-training checks a
    target's columns against them), ``by_document`` (the corpus is sentences with blank lines
    between documents: chunks are then cut only at blank lines), ``supervised`` (rows can be
    malformed: a mostly-malformed corpus is an error) and ``line_format`` (what one corpus line
    holds, for messages)."""

    name: ClassVar[str] = ""
    """set by the registry"""
    by_document: ClassVar[bool] = False
    columns: ClassVar[tuple[str, ...]] = ("input_ids", "segment_ids")
    supervised: ClassVar[bool] = False
    line_format: ClassVar[str] = "one document"

    def __init__(self, tokenizer: Tokenizer, config: ProcessorConfig, tgt_tokenizer: Tokenizer | None = None):
        # with segmentation the ids of ``self.tok`` carry word flags (uer_ray.data.words): a
        # processor moves ids around and never computes with them
        self.tok = tokenizer if config.segment is None else WordMarking(tokenizer, config.segment)
        self.config = config
        self.tgt_tok = tgt_tokenizer or tokenizer
        self.cls_id, self.sep_id = tokenizer.cls_id, tokenizer.sep_id

    def process(self, path: str, lines: list[str], line_nos: list[int],
                rng: np.random.Generator, skips: SkipLog) -> pa.Table:
        raise NotImplementedError

    def instances(self, path: str, lines: list[str], line_nos: list[int],
                  rng: np.random.Generator, skips: SkipLog) -> pa.Table:
        """``process``, and with segmentation the word flags moved from the ids into the
        ``continues_word`` column: the table a shard holds."""
        table = self.process(path, lines, line_nos, rng, skips)
        return table if self.config.segment is None else split_word_flags(table)

    @property
    def written_columns(self) -> list[str]:
        """The columns of this processor's shards: ``columns``, and ``continues_word`` when it
        segments."""
        return list(self.columns) + ([WORD_COLUMN] if self.config.segment is not None else [])

    def describe(self) -> dict:
        return {"name": self.name, "columns": self.written_columns}

    def _documents(self, path, lines, line_nos, skips) -> tuple[np.ndarray, np.ndarray]:
        """Ids of the non-empty lines (one document each), skipping empty ones."""
        keep = []
        for i, t in enumerate(lines):
            if t.strip():
                keep.append(i)
            else:
                skips.add("empty", path, line_nos[i])
        flat, offsets = self.tok.encode_flat([lines[i] for i in keep])
        lengths = np.diff(offsets)
        for i in np.flatnonzero(lengths == 0):
            skips.add("no_tokens", path, line_nos[keep[i]])
        return flat, offsets


class StreamProcessor(Processor):
    """One document per line; ``[CLS] doc [SEP]`` streams cut into windows of seq_length."""

    packs = True  # whether ProcessorConfig.pack applies

    def process(self, path, lines, line_nos, rng, skips):
        flat, offsets = self._documents(path, lines, line_nos, skips)
        # drop token-less documents: their start equals the next one's
        doc_off = np.append(offsets[:-1][np.diff(offsets) > 0], offsets[-1])
        values, doc_off = wrap_documents(flat, doc_off, self.cls_id, self.sep_id)
        spans = cut_windows(doc_off, self.config.seq_length, self.packs and self.config.pack)
        ids, row_off = gather_windows(values, spans)
        return pa.table({"input_ids": list_column(ids, row_off), "segment_ids": segment_column(row_off)})


def one_vocabulary(name: str, config: ProcessorConfig, tokenizer: Tokenizer,
                   tgt_tokenizer: Tokenizer | None) -> None:
    """The denoising processors write source and target in one vocabulary, and move and count
    ids themselves (no word flags): a target tokenizer or ``--segment`` is refused."""
    if tgt_tokenizer is not None and tgt_tokenizer.sha256 != tokenizer.sha256:
        raise OptionsError(f"the {name} processor writes its target in the source vocabulary; "
                           "drop --tgt-tokenizer/--tgt-vocab/--tgt-spm-model")
    if config.segment is not None:
        raise OptionsError(f"--segment does not apply to the {name} processor: its noise is "
                           "drawn here, not by whole-word masking at batch time")


PROCESSORS: Registry[type[Processor]] = Registry("processor", package="uer_ray.data.processors",
                                                  base=Processor)


# -- tab-separated rows (mt, cls, cls_mlm) -------------------------------------------------------
def split_rows(path, lines, line_nos, skips, widths: tuple[int, ...]):
    """Rows of ``lines`` with a column count in ``widths``; the rest are logged."""
    rows, nos = [], []
    for text, no in zip(lines, line_nos, strict=True):
        if not text.strip():
            skips.add("empty", path, no)
            continue
        fields = text.split("\t")
        if len(fields) not in widths:
            skips.add("missing_tab" if len(fields) == 1 else "bad_columns", path, no)
        elif not all(f.strip() for f in fields):
            skips.add("empty_field", path, no)
        else:
            rows.append(fields)
            nos.append(no)
    return rows, nos


def source_target_table(sources: list[np.ndarray], targets: list[np.ndarray]) -> pa.Table:
    """The table of the sequence-to-sequence processors (mt, t5, bart, gsg): ``input_ids`` and
    their ``segment_ids`` from ``sources``, ``tgt_ids`` from ``targets`` (rows already wrapped)."""
    values, offsets = rows_to_flat(sources)
    t_values, t_offsets = rows_to_flat(targets)
    return pa.table({
        "input_ids": list_column(values, offsets),
        "segment_ids": segment_column(offsets),
        "tgt_ids": list_column(t_values, t_offsets),
    })


def wrap_ids(cls_id: int, ids: np.ndarray, sep_id: int, limit: int) -> np.ndarray:
    return np.concatenate([[cls_id], ids[: limit - 2], [sep_id]]).astype(np.int32)


def fit_pair(la: int, lb: int, limit: int) -> tuple[int, int]:
    """Lengths after trimming the longer text (text_b on a tie) one token at a time, from its
    end, until both fit in ``limit`` (BERT's truncate_seq_pair), in closed form."""
    if la + lb <= limit:
        return la, lb
    if la <= (limit + 1) // 2 and la <= lb:
        return la, limit - la
    if lb <= limit // 2 and lb <= la:
        return limit - lb, lb
    return (limit + 1) // 2, limit // 2


# -- sentence pairs (bert, sop) ---------------------------------------------------------------------
def split_documents(path, lines, line_nos, tok, skips) -> list[list[np.ndarray]]:
    """Blank-line-separated documents, each a list of sentence id arrays."""
    flat, offsets = tok.encode_flat([t if t.strip() else "" for t in lines])
    docs: list[list[np.ndarray]] = [[]]
    for i, text in enumerate(lines):
        if not text.strip():
            if docs[-1]:
                docs.append([])
            continue
        ids = flat[offsets[i]:offsets[i + 1]]
        if len(ids) == 0:
            skips.add("no_tokens", path, line_nos[i])
        else:
            docs[-1].append(ids)
    return [d for d in docs if d]


def trim_pair(a: np.ndarray, b: np.ndarray, limit: int, rng: np.random.Generator):
    """Drop tokens from the longer of ``a``/``b`` (front or back at random) until they fit."""
    excess = len(a) + len(b) - limit
    if excess <= 0:
        return a, b
    coins = rng.random(excess) < 0.5
    la, lb = len(a), len(b)
    cut = [[0, 0], [0, 0]]  # [side][front?]: tokens removed from a / b, back / front
    for front in coins.tolist():
        side = 0 if la > lb else 1
        cut[side][front] += 1
        if side == 0:
            la -= 1
        else:
            lb -= 1
    return a[cut[0][1]:len(a) - cut[0][0]], b[cut[1][1]:len(b) - cut[1][0]]


def join_ids(sentences: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(sentences) if sentences else np.zeros(0, np.int32)


class PairProcessor(Processor):
    """Sentence pairs after BERT's ``create_pretraining_data``: sentences of a document are
    gathered until a target length (``seq_length - 3``, or with ``short_seq_prob`` a random
    shorter one) is reached and split at a random sentence into A and B (``_make_pair`` says
    how); the pair is trimmed from the longer side, at a random end, to fit. Rows:
    ``[CLS] A [SEP] B [SEP]``, segments 1/2, and ``is_next`` (1 = real next segment / right
    order)."""

    line_format = "one sentence, blank lines between documents"

    by_document = True
    columns = ("input_ids", "segment_ids", "is_next")

    def process(self, path, lines, line_nos, rng, skips):
        docs = split_documents(path, lines, line_nos, self.tok, skips)
        rows, first_lens, labels = [], [], []
        for d in range(len(docs)):
            for a, b, is_next in self._document_pairs(docs, d, rng):
                rows.append(np.concatenate([[self.cls_id], a, [self.sep_id], b, [self.sep_id]]))
                first_lens.append(len(a) + 2)
                labels.append(is_next)
        values, offsets = rows_to_flat(rows)
        return pa.table({
            "input_ids": list_column(values, offsets),
            "segment_ids": segment_column(offsets, np.asarray(first_lens, dtype=np.int64)),
            "is_next": pa.array(np.asarray(labels, dtype=np.int8)),
        })

    def _target_length(self, rng) -> int:
        limit = self.config.seq_length - 3
        if rng.random() < self.config.short_seq_prob:
            return int(rng.integers(2, limit + 1))
        return limit

    def _document_pairs(self, docs, d, rng):
        """(A ids, B ids, is_next) pairs made from document ``d``."""
        doc, limit = docs[d], self.config.seq_length - 3
        target = self._target_length(rng)
        chunk, size, i = [], 0, 0
        while i < len(doc):
            chunk.append(doc[i])
            size += len(doc[i])
            if i == len(doc) - 1 or size >= target:
                if len(chunk) == 1 and i + 1 < len(doc):
                    # one sentence filled the target: take the next one too, so that B can be
                    # the real continuation (BERT's script would force a random B here, which
                    # on long-sentence corpora pushes is_next far below 50%)
                    i += 1
                    chunk.append(doc[i])
                a_end = 1 if len(chunk) < 2 else int(rng.integers(1, len(chunk)))
                pair = self._make_pair(docs, d, chunk, a_end, target, rng)
                if pair is not None:
                    a, b, is_next, unused = pair
                    i -= unused
                    a, b = trim_pair(a, b, limit, rng)
                    if len(a) and len(b):
                        yield a, b, is_next
                chunk, size = [], 0
            i += 1

    def _make_pair(self, docs, d, chunk, a_end, target, rng):
        raise NotImplementedError
