"""``skipthought``: the conditioned language model of Skip-thought vectors (Kiros et al., 2015).

The encoder's hidden states over sentence s_i are pooled into one sentence vector (``last``:
the last real token, which a left-to-right GRU has read everything by); two GRU decoders, one
for the previous sentence and one for the next, generate ``prev_ids`` and ``next_ids`` (from
the ``skipthought`` processor) by teacher forcing, both conditioned on that vector. As in the
paper, the vector enters every decoder step (concatenated to the input word; the paper adds it
to each gate, which is the same as a concatenation feeding every gate) and, here by default,
also sets the decoder's starting state. The decoders share one output projection, as the
paper's decoders share their vocabulary matrix, and read the model's word table unless
``tie_embedding`` is false.

Parameter names: ``prev.*``/``next.*`` (each decoder's ``rnn`` and ``start``), ``embedding``
(only when not tied), ``output`` (only when not tied to the word table) and ``output_bias``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from uer_ray.layers.pooling import pool
from uer_ray.layers.validation import require_positive, require_probability
from uer_ray.targets.base import (
    TARGETS,
    Target,
    TargetContext,
    TargetOutput,
    prediction_loss,
    require,
    tied_or_own,
)

NEIGHBOURS = ("prev_ids", "next_ids")


@dataclass(frozen=True, kw_only=True)
class SkipthoughtConfig:
    hidden_size: int = 128
    """decoder GRU width (the model's hidden_size unless set here)"""
    emb_size: int = 128
    """decoder word width when it has its own table (the model's emb_size unless set here)"""
    decoder_layers: int = 1
    dropout: float = 0.1
    """on the decoders' input words (and between GRU layers)"""
    pooling: Literal["first", "mean", "max", "last"] = "last"
    """how the encoder's hidden states become the sentence vector"""
    condition: Literal["input", "start", "both"] = "both"
    """where the sentence vector enters a decoder: every step's input (the paper), the starting
    state, or both"""
    tie_embedding: bool = True
    """the decoders read the model's ``word`` table instead of a table of their own"""
    tie_weights: bool = False
    """the output projection is the model's ``word`` table (needs hidden_size == its width)"""

    def __post_init__(self) -> None:
        require_positive(self, "hidden_size", "emb_size", "decoder_layers")
        require_probability(self, "dropout")


class ConditionedGru(nn.Module):
    """One decoder: words (B,T2,E) and the sentence vector (B,S) -> (B,T2,Hd).

    ``start`` Linear(S, layers·Hd) + tanh gives the starting state when the vector conditions
    it; otherwise the state starts at zero."""

    def __init__(self, cfg: SkipthoughtConfig, word_dim: int, vector_dim: int):
        super().__init__()
        self.layers, self.hidden = cfg.decoder_layers, cfg.hidden_size
        self.per_step = cfg.condition in ("input", "both")
        in_dim = word_dim + (vector_dim if self.per_step else 0)
        self.rnn = nn.GRU(in_dim, cfg.hidden_size, num_layers=cfg.decoder_layers, batch_first=True,
                          dropout=cfg.dropout if cfg.decoder_layers > 1 else 0.0)
        self.start = (nn.Linear(vector_dim, cfg.decoder_layers * cfg.hidden_size)
                      if cfg.condition in ("start", "both") else None)

    def forward(self, words: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
        if self.per_step:  # (B,T2,E+S)
            words = torch.cat([words, vector.unsqueeze(1).expand(-1, words.shape[1], -1)], dim=2)
        state = None
        if self.start is not None:  # (layers,B,Hd)
            state = torch.tanh(self.start(vector)).view(-1, self.layers, self.hidden).transpose(0, 1).contiguous()
        return self.rnn(words, state)[0]


@TARGETS.register("skipthought")
class SkipthoughtTarget(Target):
    """hidden (B,T,H) + ``prev_ids``/``next_ids`` (B,T2) -> mean of the two decoders' losses;
    logits (B,2,T2-1,V): [previous, next], position t predicting token t+1 of that sentence."""

    Config = SkipthoughtConfig
    columns = NEIGHBOURS
    logits_columns = NEIGHBOURS
    logits_shape = ("B", 2, "T_tgt-1", "V")
    card_task_type = "feature-extraction"  # what a Skip-thoughts model is for: sentence vectors

    def __init__(self, cfg: SkipthoughtConfig, ctx: TargetContext):
        super().__init__()
        self.pooling, self.pad_id, self.tie_weights = cfg.pooling, ctx.pad_id, cfg.tie_weights
        tied = cfg.tie_embedding or cfg.tie_weights
        if tied and ctx.word_embedding is None:
            raise ValueError("target 'skipthought': tie_embedding/tie_weights need a 'word' embedding part")
        self._word = [ctx.word_embedding] if tied else None  # a list: not a second owner of the table
        self.embedding = None if cfg.tie_embedding else nn.Embedding(ctx.vocab_size, cfg.emb_size)
        word_dim = ctx.word_embedding.output_weight.shape[1] if cfg.tie_embedding else cfg.emb_size
        self.dropout = nn.Dropout(cfg.dropout)
        self.prev = ConditionedGru(cfg, word_dim, ctx.hidden_size)
        self.next = ConditionedGru(cfg, word_dim, ctx.hidden_size)
        self.output, width = tied_or_own(ctx, cfg.tie_weights, cfg.hidden_size, "skipthought")
        if width != cfg.hidden_size:
            raise ValueError(f"target 'skipthought': tie_weights needs the decoder width "
                             f"(hidden_size {cfg.hidden_size}) to equal the word table width ({width})")
        self.output_bias = nn.Parameter(torch.zeros(ctx.vocab_size))

    def reads(self, batch: dict, padding_mask) -> torch.Tensor | None:
        """The one position per row that ``first``/``last`` pooling reads."""
        if self.pooling not in ("first", "last"):
            return None
        ids = batch["input_ids"]
        read = torch.zeros(ids.shape, dtype=torch.bool, device=ids.device)
        rows = torch.arange(ids.shape[0], device=ids.device)
        if self.pooling == "first" or padding_mask is None:
            read[rows, 0 if self.pooling == "first" else -1] = True
        else:
            read[rows, ((~padding_mask).sum(1) - 1).clamp(min=0)] = True
        return read

    def _vector(self, hidden: torch.Tensor, padding_mask) -> torch.Tensor:  # (B,H)
        return pool(hidden, None if padding_mask is None else ~padding_mask, self.pooling)

    def _states(self, decoder: ConditionedGru, ids: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
        """ids (B,T2) -> decoder states (B,T2-1,Hd) that predict ids[:, 1:] from ids[:, :-1]."""
        table = self._word[0].output_weight if self.embedding is None else self.embedding.weight
        return decoder(self.dropout(F.embedding(ids[:, :-1], table)), vector)

    def _project(self, h: torch.Tensor) -> torch.Tensor:  # (...,Hd) -> (...,V)
        weight = self._word[0].output_weight if self.tie_weights else self.output.weight
        return F.linear(h, weight, self.output_bias)

    def logits(self, hidden: torch.Tensor, batch: dict, padding_mask) -> torch.Tensor:
        vector = self._vector(hidden, padding_mask)
        prev, nxt = (require(batch, c, self.name) for c in NEIGHBOURS)
        longest = max(prev.shape[1], nxt.shape[1])  # one length for both: pad the shorter
        prev, nxt = (F.pad(x, (0, longest - x.shape[1]), value=self.pad_id) for x in (prev, nxt))
        states = [self._states(self.prev, prev, vector), self._states(self.next, nxt, vector)]
        return self._project(torch.stack(states, 1))

    def forward(self, hidden: torch.Tensor, batch: dict, padding_mask) -> TargetOutput:
        vector = self._vector(hidden, padding_mask)
        outs = []
        for decoder, column in ((self.prev, "prev_ids"), (self.next, "next_ids")):
            ids = require(batch, column, self.name)
            valid = ids[:, 1:] != self.pad_id  # (B,T2-1): padding is never a label
            states = self._states(decoder, ids, vector)[valid]  # (N,Hd): only real labels are projected
            outs.append(prediction_loss(self._project(states), ids[:, 1:][valid]))
        prev, nxt = outs
        metrics = {k: (prev.metrics[k] + nxt.metrics[k]) / 2 for k in ("loss", "accuracy")}
        metrics["count"] = prev.metrics["count"] + nxt.metrics["count"]
        return TargetOutput((prev.loss + nxt.loss) / 2, metrics)
