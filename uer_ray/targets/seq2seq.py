"""Sequence-to-sequence targets that own a decoder: ``mt`` (translation, as CoVe pre-trains its
encoder, McCann et al. 2017) and ``ae`` (auto-encoder: reconstruct the input, Dai & Le 2015).

Teacher forcing: the decoder reads ``ids[:, :-1]`` and predicts ``ids[:, 1:]``; ``mt`` takes
``tgt_ids`` (``[CLS] target [SEP]``, padded with pad_id), ``ae`` takes ``input_ids`` (padding
where ``segment_ids == 0``). Parameter names: ``decoder.*`` (the decoder's own names) and
``output_bias``; the projection is tied to the decoder's word table unless ``tie_weights`` is
false (then ``output`` Linear(Hd, V)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from uer_ray.targets.base import TargetContext, TargetOutput, prediction_loss, require
from uer_ray.targets.registry import TARGETS


@dataclass(frozen=True, kw_only=True)
class Seq2seqConfig:
    tie_weights: bool = True
    """share the output projection with the decoder's target-side word table"""


class _Seq2seqTarget(nn.Module):
    Config = Seq2seqConfig
    needs_decoder = True
    name = ""

    def __init__(self, cfg: Seq2seqConfig, ctx: TargetContext):
        super().__init__()
        vocab = self._vocab_size(ctx)
        self.pad_id = ctx.pad_id
        self.decoder = ctx.make_decoder(vocab)
        self.output = None if cfg.tie_weights else nn.Linear(self.decoder.output_dim, vocab, bias=False)
        self.output_bias = nn.Parameter(torch.zeros(vocab))

    def _vocab_size(self, ctx: TargetContext) -> int:
        raise NotImplementedError

    def _sequence(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids (B,T2), padding (B,T2) bool) of the sequence to generate."""
        raise NotImplementedError

    def _project(self, h: torch.Tensor) -> torch.Tensor:
        weight = self.decoder.output_weight if self.output is None else self.output.weight
        return F.linear(h, weight, self.output_bias)

    def _decode(self, hidden, batch, padding_mask) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ids, pad = self._sequence(batch)
        tgt_pad = pad[:, :-1]
        out = self.decoder(ids[:, :-1], tgt_pad if tgt_pad.any() else None, hidden, padding_mask)
        return out, ids[:, 1:], ~pad[:, 1:]

    def logits(self, hidden: torch.Tensor, batch: dict, padding_mask) -> torch.Tensor:
        """(B,T2-1,V): position t predicts token t+1 of the target sequence."""
        return self._project(self._decode(hidden, batch, padding_mask)[0])

    def forward(self, hidden: torch.Tensor, batch: dict, padding_mask) -> TargetOutput:
        out, labels, valid = self._decode(hidden, batch, padding_mask)
        return prediction_loss(self._project(out[valid]), labels[valid])


@TARGETS.register("mt")
class MtTarget(_Seq2seqTarget):
    """Translation: hidden (B,T,H) + ``tgt_ids`` (B,T2) -> loss over the target tokens."""

    name = "mt"
    needs_tgt_ids = True

    def _vocab_size(self, ctx: TargetContext) -> int:
        if ctx.tgt_vocab_size is None:
            raise ValueError("target 'mt' needs tgt_vocab_size (the target-side vocabulary size)")
        return ctx.tgt_vocab_size

    def _sequence(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        ids = require(batch, "tgt_ids", "mt")
        return ids, ids == self.pad_id


@TARGETS.register("ae")
class AeTarget(_Seq2seqTarget):
    """Auto-encoder: hidden (B,T,H) + ``input_ids`` -> loss of reconstructing the input."""

    name = "ae"

    def _vocab_size(self, ctx: TargetContext) -> int:
        return ctx.vocab_size

    def _sequence(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        return require(batch, "input_ids", "ae"), require(batch, "segment_ids", "ae") == 0
