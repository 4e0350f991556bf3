"""``lm``: the left-to-right language model (next token; GPT/GPT-2, Radford et al. 2018/2019).

Position t predicts ``input_ids[t+1]`` where both are real tokens; the projection is tied to the
word table (GPT-2, no bias) or its own ``output`` Linear(H,V). The encoder must not see the
token it predicts (``predicts_next_token``).
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
class LmConfig:
    tie_weights: bool = True
    bias: bool = False


@TARGETS.register("lm")
class LmTarget(Target):
    """hidden (B,T,H) + input_ids -> next-token loss; logits (B,T,V)."""

    Config = LmConfig
    logits_shape = ("B", "T", "V")
    predicts_next_token = True
    card_task_type = "text-generation"
    generates = "continuation"

    def __init__(self, cfg: LmConfig, ctx: TargetContext):
        super().__init__()
        self.output, width = tied_or_own(ctx, cfg.tie_weights, ctx.hidden_size, self.name)
        if width != ctx.hidden_size:
            raise ValueError(f"target {self.name!r}: tie_weights needs the encoder output width "
                             f"({ctx.hidden_size}) to equal the word table width ({width})")
        self._word = [ctx.word_embedding] if cfg.tie_weights else None
        self.output_bias = nn.Parameter(torch.zeros(ctx.vocab_size)) if cfg.bias else None

    def logits(self, hidden: torch.Tensor, batch: dict, padding_mask) -> torch.Tensor:
        weight = self._word[0].output_weight if self._word else self.output.weight
        return F.linear(hidden, weight, self.output_bias)

    def next_token_logits(self, states: torch.Tensor) -> torch.Tensor:
        """Left-to-right states (..., H) -> logits (..., V) of the next token (generation)."""
        return self.logits(states, {}, None)

    def forward(self, hidden: torch.Tensor, batch: dict, padding_mask) -> TargetOutput:
        ids = require(batch, "input_ids", "lm")
        seg = require(batch, "segment_ids", "lm")
        valid = (seg[:, 1:] != 0) & (seg[:, :-1] != 0)  # (B,T-1)
        return prediction_loss(self.logits(hidden[:, :-1][valid], batch, None), ids[:, 1:][valid])
