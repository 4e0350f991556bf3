"""Dynamic masking for masked-language-model targets, applied per batch at collate time.

- ``token``: BERT (Devlin et al., 2019): 15% of the tokens are picked; of those 80% become
  ``[MASK]``, 10% a random token, 10% stay as they are.
- ``whole_word``: the same, but a word (a token plus its ``##`` continuations, or a jieba word
  where the shards record them: ``uer_ray.data.words``) is picked whole (BERT's
  whole-word-masking release; Cui et al., 2019, for Chinese); the 80/10/10 choice is made once
  per word.
- ``span``: SpanBERT (Joshi et al., 2020): spans of whole words with lengths drawn from a
  geometric distribution (p=0.2, clipped at 10 words) until the budget is used; the 80/10/10
  choice is made once per span.

``[PAD]``, ``[CLS]`` and ``[SEP]`` are never picked. The budget per row is
``max(1, round(prob * candidates))``. All randomness comes from the generator passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

IGNORE = -100  # label of positions without a prediction (torch cross_entropy's ignore_index)


@dataclass(frozen=True)
class MaskingConfig:
    """How to pick and corrupt MLM positions."""

    prob: float = 0.15
    """share of candidate tokens to predict"""
    replace_mask: float = 0.8
    """share of picked units replaced by [MASK]"""
    replace_random: float = 0.1
    """share replaced by a random token (the rest stay unchanged)"""
    strategy: Literal["token", "whole_word", "span"] = "token"
    span_p: float = 0.2
    """geometric parameter of span lengths (in words), span strategy only"""
    span_max: int = 10
    """longest span in words"""

    def __post_init__(self):
        if not 0 < self.prob < 1:
            raise ValueError(f"masking prob must be in (0, 1), got {self.prob}")
        if self.replace_mask < 0 or self.replace_random < 0 or self.replace_mask + self.replace_random > 1:
            raise ValueError("replace_mask and replace_random must be >= 0 and sum to at most 1")
        if self.strategy not in ("token", "whole_word", "span"):
            raise ValueError(f"unknown masking strategy {self.strategy!r}")
        if not 0 < self.span_p <= 1 or self.span_max < 1:
            raise ValueError("span_p must be in (0, 1] and span_max >= 1")


class Masker:
    """Applies a ``MaskingConfig`` to padded id matrices.

    ``never`` are ids never picked (pad, cls, sep); ``continuation`` is a bool array over the
    vocabulary marking ``##`` pieces (needed by whole_word and span; without it every token is
    its own word). A batch may bring its own word structure instead (``continues``, below).
    """

    def __init__(self, config: MaskingConfig, *, vocab_size: int, mask_id: int, never: list[int],
                 continuation: np.ndarray | None = None):
        self.config = config
        self.mask_id = int(mask_id)
        self.never = np.asarray(sorted(set(int(i) for i in never)), dtype=np.int64)
        special = np.union1d(self.never, [self.mask_id])
        self.random_pool = np.setdiff1d(np.arange(vocab_size, dtype=np.int64), special)
        self.continuation = None if continuation is None else np.asarray(continuation, dtype=bool)

    def __call__(self, ids: np.ndarray, lengths: np.ndarray, rng: np.random.Generator,
                 continues: np.ndarray | None = None):
        """ids (B,T) int64 (modified in place) → labels (B,T) int64 with IGNORE off-target.
        ``continues`` (B,T) bool: the token continues the word of the token before it (the
        shards' ``continues_word`` column); None: words from the vocabulary's ``continuation``."""
        B, T = ids.shape
        valid = (np.arange(T)[None, :] < lengths[:, None]) & ~np.isin(ids, self.never)
        budget = np.where(valid.any(1), np.maximum(1, np.rint(valid.sum(1) * self.config.prob)), 0)
        if self.config.strategy == "token":
            picked = _pick_tokens(valid, budget.astype(np.int64), rng)
            unit = np.where(picked, np.arange(B * T).reshape(B, T), -1)
        else:
            unit = np.full((B, T), -1, dtype=np.int64)
            for b in range(B):
                cont = self._continues(ids[b]) if continues is None else continues[b]
                self._pick_words(cont, valid[b], int(budget[b]), unit[b], b * T, rng)
            picked = unit >= 0
        labels = np.where(picked, ids, IGNORE)
        self._corrupt(ids, unit, picked, rng)
        return labels

    def _continues(self, row):
        if self.continuation is None:
            return np.zeros(len(row), dtype=bool)
        return self.continuation[row]

    def _pick_words(self, continues, valid, budget, unit_out, base, rng):
        """Pick whole words (or geometric spans of words) of one row; write unit ids."""
        pos = np.flatnonzero(valid)
        if budget == 0 or len(pos) == 0:
            return
        cont = continues[pos]
        # a word starts at a non-continuation token or after a gap (a [SEP], say)
        starts = np.flatnonzero(~cont | np.r_[True, np.diff(pos) != 1])
        ends = np.r_[starts[1:], len(pos)]
        n_words = len(starts)
        taken = np.zeros(n_words, dtype=bool)
        used = 0
        span = self.config.strategy == "span"
        for w in rng.permutation(n_words):
            if used >= budget:
                break
            length = min(int(rng.geometric(self.config.span_p)), self.config.span_max) if span else 1
            words = np.arange(w, min(w + length, n_words))
            words = words[~taken[words]]
            size = int((ends[words] - starts[words]).sum())
            if size == 0 or used + size > budget:
                continue
            taken[words] = True
            used += size
            for k in words:
                unit_out[pos[starts[k]:ends[k]]] = base + int(words[0])
        return

    def _corrupt(self, ids, unit, picked, rng):
        """80/10/10 once per unit: every token of a unit gets its unit's decision."""
        units, inverse = np.unique(unit[picked], return_inverse=True)
        draw = rng.random(len(units))[inverse]
        cfg = self.config
        to_mask = draw < cfg.replace_mask
        to_rand = (draw >= cfg.replace_mask) & (draw < cfg.replace_mask + cfg.replace_random)
        where = np.flatnonzero(picked.ravel())
        flat = ids.reshape(-1)
        flat[where[to_mask]] = self.mask_id
        if to_rand.any():
            flat[where[to_rand]] = self.random_pool[rng.integers(0, len(self.random_pool), int(to_rand.sum()))]


def _pick_tokens(valid: np.ndarray, budget: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each row, ``budget[b]`` distinct valid positions chosen uniformly (vectorised)."""
    scores = rng.random(valid.shape)
    scores[~valid] = np.inf
    rank = np.argsort(np.argsort(scores, axis=1, kind="stable"), axis=1, kind="stable")
    return (rank < budget[:, None]) & valid
