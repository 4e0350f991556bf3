"""``bilm``: forward and backward language models over a bidirectional encoder (ELMo, Peters et
al. 2018). The encoder output's first H/2 features (forward direction) predict the next token,
the last H/2 (backward direction) the previous one, through ``output_fwd``/``output_bwd``.
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
class BilmConfig:
    tie_weights: bool = False
    """tie both directions to the word table (needs H/2 == word table width)"""


@TARGETS.register("bilm")
class BilmTarget(Target):
    """hidden (B,T,H) of a bidirectional encoder -> forward + backward LM loss; logits (B,T,2,V)."""

    Config = BilmConfig
    logits_shape = ("B", "T", 2, "V")
    card_task_type = "text-generation"
    generates = "continuation"

    def __init__(self, cfg: BilmConfig, ctx: TargetContext):
        super().__init__()
        if not ctx.encoder_bidirectional:
            from uer_ray.encoders import ENCODERS

            both = " or ".join(n for n, c in ENCODERS.items() if c.bidirectional)
            raise ValueError(f"target 'bilm' needs a bidirectional last encoder ({both}), got "
                             f"{ctx.encoder_name!r}: a left-to-right model would see the tokens it predicts")
        self.half = ctx.hidden_size // 2
        own_fwd, width = tied_or_own(ctx, cfg.tie_weights, self.half, "bilm")
        if width != self.half:
            raise ValueError(f"target 'bilm': tie_weights needs hidden_size/2 ({self.half}) "
                             f"to equal the word table width ({width})")
        self._word = [ctx.word_embedding] if cfg.tie_weights else None
        self.output_fwd = own_fwd
        self.output_bwd = None if cfg.tie_weights else nn.Linear(self.half, ctx.vocab_size, bias=False)
        self.bias_fwd = nn.Parameter(torch.zeros(ctx.vocab_size))
        self.bias_bwd = nn.Parameter(torch.zeros(ctx.vocab_size))

    def _project(self, h: torch.Tensor, backward: bool) -> torch.Tensor:
        if self._word:
            weight = self._word[0].output_weight
        else:
            weight = (self.output_bwd if backward else self.output_fwd).weight
        return F.linear(h, weight, self.bias_bwd if backward else self.bias_fwd)

    def next_token_logits(self, states: torch.Tensor) -> torch.Tensor:
        """The forward direction's states (..., H/2) -> logits (..., V) of the next token."""
        return self._project(states, False)

    def logits(self, hidden: torch.Tensor, batch: dict, padding_mask) -> torch.Tensor:
        fwd = self._project(hidden[..., : self.half], False)
        bwd = self._project(hidden[..., self.half :], True)
        return torch.stack([fwd, bwd], dim=2)

    def forward(self, hidden: torch.Tensor, batch: dict, padding_mask) -> TargetOutput:
        ids = require(batch, "input_ids", "bilm")
        seg = require(batch, "segment_ids", "bilm")
        valid = (seg[:, 1:] != 0) & (seg[:, :-1] != 0)  # pairs (t, t+1) of real tokens
        fwd = prediction_loss(self._project(hidden[:, :-1, : self.half][valid], False), ids[:, 1:][valid])
        bwd = prediction_loss(self._project(hidden[:, 1:, self.half :][valid], True), ids[:, :-1][valid])
        metrics = {k: (fwd.metrics[k] + bwd.metrics[k]) / 2 for k in ("loss", "accuracy")}
        metrics["count"] = fwd.metrics["count"] + bwd.metrics["count"]
        return TargetOutput((fwd.loss + bwd.loss) / 2, metrics)
