"""``ae``: the auto-encoder target — a decoder reconstructs the input from the encoder's output
(Dai & Le 2015). Padding is where ``segment_ids == 0``."""

from __future__ import annotations

import torch

from uer_ray.targets.base import TARGETS, Seq2seqTarget, TargetContext, require


@TARGETS.register("ae")
class AeTarget(Seq2seqTarget):
    """Auto-encoder: hidden (B,T,H) + ``input_ids`` -> loss of reconstructing the input."""

    logits_shape = ("B", "T-1", "V")

    def _vocab_size(self, ctx: TargetContext) -> int:
        return ctx.vocab_size

    def _sequence(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        return require(batch, "input_ids", self.name), require(batch, "segment_ids", self.name) == 0
