"""Processors (registry ``PROCESSORS``): corpus lines → training instances, in the UER-py corpus
formats (DESIGN §3). This file holds the base class and the one-document-per-line processors
``mlm``, ``lm``, ``bilm`` and ``ae``; ``bert``/``sop`` live in ``sentence_pairs.py`` and
``mt``/``cls``/``cls_mlm`` in ``supervised.py``.

A processor works on one chunk at a time: a list of lines with their line numbers, a seeded
generator, and a ``SkipLog``. It returns an Arrow table with ``input_ids`` list<int32>,
``segment_ids`` list<int8> (0 pad, 1 first segment, 2 second) and its own extra columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from uer_ray.data.corpus import SkipLog
from uer_ray.data.instances import (
    cut_windows,
    gather_windows,
    list_column,
    segment_column,
    wrap_documents,
)
from uer_ray.registry import Registry
from uer_ray.tokenizers import Tokenizer

PROCESSORS: Registry[type[Processor]] = Registry("processor")


@dataclass(frozen=True)
class ProcessorConfig:
    """What a processor needs besides its tokenizer(s)."""

    seq_length: int = 128
    """longest instance, special tokens included"""
    tgt_seq_length: int | None = None
    """longest target (mt); defaults to seq_length"""
    pack: bool = True
    """mlm/lm/bilm: fill every instance across document boundaries (UER-py --full_sentences)"""
    short_seq_prob: float = 0.1
    """bert/sop: share of instances with a random shorter target length (BERT)"""
    labels: tuple[str, ...] | None = None
    """cls: label names in id order; None means labels are already integers"""

    def __post_init__(self):
        if self.seq_length < 8:
            raise ValueError(f"seq_length must be at least 8, got {self.seq_length}")
        if self.tgt_seq_length is not None and self.tgt_seq_length < 3:
            raise ValueError(f"tgt_seq_length must be at least 3, got {self.tgt_seq_length}")
        if not 0 <= self.short_seq_prob <= 1:
            raise ValueError(f"short_seq_prob must be in [0, 1], got {self.short_seq_prob}")


class Processor:
    """Base class. ``by_document``: the corpus is sentences with blank lines between documents
    (chunks are then cut only at blank lines)."""

    name = ""
    by_document = False
    columns: tuple[str, ...] = ("input_ids", "segment_ids")
    supervised = False  # rows can be malformed (mt, cls): a mostly-malformed corpus is an error

    def __init__(self, tokenizer: Tokenizer, config: ProcessorConfig, tgt_tokenizer: Tokenizer | None = None):
        self.tok = tokenizer
        self.config = config
        self.tgt_tok = tgt_tokenizer or tokenizer
        self.cls_id, self.sep_id = tokenizer.cls_id, tokenizer.sep_id

    def process(self, path: str, lines: list[str], line_nos: list[int],
                rng: np.random.Generator, skips: SkipLog) -> pa.Table:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"name": self.name, "columns": list(self.columns)}

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


class _Stream(Processor):
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


@PROCESSORS.register("mlm")
class MlmProcessor(_Stream):
    """Masked LM corpus (BERT without next-sentence prediction; masking happens at collate)."""

    name = "mlm"


@PROCESSORS.register("lm")
class LmProcessor(_Stream):
    """Left-to-right LM corpus (GPT); labels are input_ids shifted at training time."""

    name = "lm"


@PROCESSORS.register("bilm")
class BilmProcessor(_Stream):
    """Forward and backward LM corpus (ELMo); same instances as ``lm``."""

    name = "bilm"


@PROCESSORS.register("ae")
class AeProcessor(_Stream):
    """Auto-encoder corpus: each document reconstructs itself, so it is never packed with others."""

    name = "ae"
    packs = False
