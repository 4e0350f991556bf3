"""Turning shard rows into padded training batches, with dynamic MLM masking.

Rows come either as Ray Data gives them to ``iter_torch_batches`` (a dict of numpy arrays, list
columns as object arrays of read-only arrays, or 2-D arrays when every row has the same length)
or as a list of row dicts. Each batch is padded to its own longest row, not to the corpus maximum.
Masking is drawn from a generator seeded by ``(seed, rank, step)``; ``step`` counts the batches a
collator has made and can be set to resume a run exactly.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from ray.data.collate_fn import NumpyBatchCollateFn

from uer_ray.data.masking import Masker, MaskingConfig
from uer_ray.data.shards import SCALAR_COLUMNS
from uer_ray.data.words import WORD_COLUMN


def _rows(column: Any) -> list[np.ndarray]:
    """One column as a list of 1-D arrays, whatever container Ray Data or the caller used."""
    if isinstance(column, np.ndarray) and column.dtype != object:
        return list(column.reshape(len(column), -1))
    return [np.asarray(r) for r in column]


def _pad(rows: list[np.ndarray], value: int) -> tuple[np.ndarray, np.ndarray]:
    """rows → ((B, T) int64 padded with ``value``, (B,) lengths); T = longest row."""
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    out = np.full((len(rows), int(lengths.max(initial=0))), value, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r  # copies: Ray Data's arrays are read-only
    return out, lengths


def _columns(batch: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    if isinstance(batch, Mapping):
        return dict(batch)
    if not batch:
        raise ValueError("cannot collate an empty batch")
    return {k: [row[k] for row in batch] for k in batch[0]}


class Collator:
    """Pads a batch of shard rows and (optionally) masks it for MLM.

    Returns ``input_ids`` (B,T) long, ``segment_ids`` (B,T) long, the scalar columns when
    present (``is_next`` (B,), ``label`` (B,)) and every other id-list column padded with
    pad_id to its own longest row (``tgt_ids`` (B,T2), ``prev_ids``/``next_ids``, ...); with
    masking also ``mlm_labels`` (B,T) long (original id at picked positions, -100 elsewhere).
    Whole-word and span masking take words from the ``continues_word`` column when the rows
    have it (it is not passed on), else from ``continuation`` (the vocabulary's ``##`` pieces).
    See docs/contracts.md "Shards".
    """

    def __init__(self, pad_id: int, *, masking: MaskingConfig | None = None, vocab_size: int | None = None,
                 special_ids: Mapping[str, int] | None = None, seed: int = 0, rank: int = 0,
                 continuation: np.ndarray | None = None):
        self.pad_id = int(pad_id)
        self.seed, self.rank, self.step = int(seed), int(rank), 0
        self.masker = None
        if masking is not None:
            if vocab_size is None or not special_ids or "mask" not in special_ids:
                raise ValueError("masking needs vocab_size and special_ids with a 'mask' id")
            never = [special_ids[k] for k in ("pad", "cls", "sep") if k in special_ids] + [self.pad_id]
            if masking.strategy != "token" and continuation is None:
                raise ValueError(f"{masking.strategy} masking needs `continuation` (the ## pieces)")
            self.masker = Masker(masking, vocab_size=vocab_size, mask_id=special_ids["mask"],
                                 never=never, continuation=continuation)

    @classmethod
    def from_tokenizer(cls, tokenizer, *, masking: MaskingConfig | None = None, seed: int = 0,
                       rank: int = 0) -> Collator:
        """A collator for ``tokenizer``'s ids; ``##`` pieces define words for whole-word/span."""
        cont = None
        if masking is not None and masking.strategy != "token":
            cont = tokenizer.continuation_mask()
        return cls(tokenizer.pad_id, masking=masking, vocab_size=tokenizer.vocab_size,
                   special_ids=tokenizer.special_ids, seed=seed, rank=rank, continuation=cont)

    def rng(self, step: int) -> np.random.Generator:
        """The generator of batch number ``step``: a function of (seed, rank, step) only."""
        return np.random.default_rng([self.seed, self.rank, step])

    def pad(self, batch) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Pad every column; returns numpy arrays and the (B,) row lengths."""
        cols = _columns(batch)
        ids, lengths = _pad(_rows(cols["input_ids"]), self.pad_id)
        out = {"input_ids": ids}
        if "segment_ids" in cols:
            out["segment_ids"] = _pad(_rows(cols["segment_ids"]), 0)[0]
        else:  # one segment: 1 on real tokens
            out["segment_ids"] = (np.arange(ids.shape[1])[None, :] < lengths[:, None]).astype(np.int64)
        for k, column in cols.items():
            if k in out or k == WORD_COLUMN:  # word boundaries serve masking only
                continue
            if k in SCALAR_COLUMNS:
                out[k] = np.array(column, dtype=np.int64).reshape(-1)  # a copy: may be read-only
            else:  # another id sequence (tgt_ids, prev_ids, ...): its own length, pad_id
                out[k] = _pad(_rows(column), self.pad_id)[0]
        return out, lengths

    def __call__(self, batch) -> dict[str, torch.Tensor]:
        cols = _columns(batch)
        arrays, lengths = self.pad(cols)
        if self.masker is not None:
            arrays["mlm_labels"] = self.masker(arrays["input_ids"], lengths, self.rng(self.step),
                                               self._continues(cols))
        self.step += 1
        return {k: torch.from_numpy(v) for k, v in arrays.items()}

    def _continues(self, cols) -> np.ndarray | None:
        """(B,T) bool from the shards' ``continues_word`` column (word boundaries recorded at
        preprocessing), when word-level masking has one to read; None otherwise."""
        if self.masker.config.strategy == "token" or WORD_COLUMN not in cols:
            return None
        return _pad(_rows(cols[WORD_COLUMN]), 0)[0].astype(bool)


class RayCollateFn(NumpyBatchCollateFn):
    """A ``Collator`` as Ray Data's collate type, for ``iter_torch_batches(collate_fn=...)``.

    Ray may collate on several threads when ``prefetch_batches > 1``; the step counter is
    locked, but which batch gets which step then depends on thread timing. Use
    ``prefetch_batches=1`` (one collate thread) where masking must replay exactly on resume.
    """

    def __init__(self, collator: Collator):
        self.collator = collator
        self._lock = threading.Lock()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        with self._lock:
            return self.collator(batch)

    def __getstate__(self):
        return {"collator": self.collator}

    def __setstate__(self, state):
        self.collator = state["collator"]
        self._lock = threading.Lock()
