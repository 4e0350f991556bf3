"""``prefixlm``: the prefix language model (UniLM's sequence-to-sequence objective, Dong et al.
2019; T5's prefix LM, Raffel et al. 2020): one sequence ``[CLS] prefix [SEP] target [SEP]``,
segment 1 on the prefix and 2 on the target; the encoder's ``causal_with_prefix`` mask lets the
prefix see itself whole and each target position see the prefix and the target up to itself.
Position t is trained on token t+1 only where that token is in segment 2.

The projection is tied to the word table (``tie_weights``) or its own ``output`` Linear(H,V),
with an optional ``output_bias``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from uer_ray.targets.base import (
    TARGETS,
    Target,
    TargetContext,
    TargetOutput,
    prediction_loss,
    require,
    tied_or_own,
)


@dataclass(frozen=True, kw_only=True)
class PrefixLmConfig:
    tie_weights: bool = True
    bias: bool = False


@TARGETS.register("prefixlm")
class PrefixLmTarget(Target):
    """hidden (B,T,H) + input_ids, segment_ids -> next-token loss on the target part; logits
    (B,T,V) at every position."""

    Config = PrefixLmConfig
    logits_shape = ("B", "T", "V")
    needs_mask = "causal_with_prefix"
    card_task_type = "text2text-generation"

    def __init__(self, cfg: PrefixLmConfig, ctx: TargetContext):
        super().__init__()
        self.output, width = tied_or_own(ctx, cfg.tie_weights, ctx.hidden_size, "prefixlm")
        if width != ctx.hidden_size:
            raise ValueError(f"target 'prefixlm': tie_weights needs the encoder output width "
                             f"({ctx.hidden_size}) to equal the word table width ({width})")
        self._word = [ctx.word_embedding] if cfg.tie_weights else None
        self.output_bias = nn.Parameter(torch.zeros(ctx.vocab_size)) if cfg.bias else None

    def logits(self, hidden: torch.Tensor, batch: dict, padding_mask) -> torch.Tensor:
        weight = self._word[0].output_weight if self._word else self.output.weight
        return F.linear(hidden, weight, self.output_bias)

    def reads(self, batch: dict, padding_mask) -> torch.Tensor | None:
        seg = batch["segment_ids"]
        read = torch.zeros(seg.shape, dtype=torch.bool, device=seg.device)
        read[:, :-1] = seg[:, 1:] == 2
        return read

    def forward(self, hidden: torch.Tensor, batch: dict, padding_mask) -> TargetOutput:
        ids = require(batch, "input_ids", "prefixlm")
        seg = require(batch, "segment_ids", "prefixlm")
        valid = seg[:, 1:] == 2  # the predicted token is in the target part
        return prediction_loss(self.logits(hidden[:, :-1][valid], batch, None), ids[:, 1:][valid])
