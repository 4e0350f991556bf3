"""Masked language model target (BERT, Devlin et al. 2019).

Head: ``dense`` Linear(H,e) -> activation -> ``norm`` LayerNorm(e) -> projection to the
vocabulary (tied: the word table (V,e); else ``output`` Linear(e,V)) + ``output_bias`` (V,).
Training projects only the masked positions (``mlm_labels`` != -100): the vocabulary product is
the largest matrix multiply of a small BERT, and ~15% of positions need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from uer_ray.layers.activations import get_activation
from uer_ray.layers.validation import require_positive
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
class MlmConfig:
    act: Literal["gelu", "gelu_tanh", "relu", "silu"] = "gelu"
    layernorm_eps: float = 1e-12
    tie_weights: bool = True
    """share the output projection with the word embedding"""

    def __post_init__(self) -> None:
        require_positive(self, "layernorm_eps")


@TARGETS.register("mlm")
class MlmTarget(Target):
    """hidden (B,T,H) + ``mlm_labels`` (B,T) -> loss over the masked positions; logits (B,T,V)."""

    Config = MlmConfig
    logits_shape = ("B", "T", "V")
    needs_masking = True
    card_task_type = "fill-mask"

    def __init__(self, cfg: MlmConfig, ctx: TargetContext):
        super().__init__()
        self.output, width = tied_or_own(ctx, cfg.tie_weights, ctx.hidden_size, "mlm")
        # kept out of the module tree so the tied table is saved once, under embedding.word
        self._word = [ctx.word_embedding] if cfg.tie_weights else None
        self.dense = nn.Linear(ctx.hidden_size, width)
        self.act = get_activation(cfg.act)
        self.norm = nn.LayerNorm(width, eps=cfg.layernorm_eps)
        self.output_bias = nn.Parameter(torch.zeros(ctx.vocab_size))

    def _project(self, h: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.act(self.dense(h)))
        weight = self._word[0].output_weight if self._word else self.output.weight
        return F.linear(h, weight, self.output_bias)

    def forward(self, hidden: torch.Tensor, batch: dict, padding_mask) -> TargetOutput:
        labels = require(batch, "mlm_labels", "mlm")
        selected = labels != -100
        return prediction_loss(self._project(hidden[selected]), labels[selected])  # (N,V), (N,)

    def reads(self, batch: dict, padding_mask) -> torch.Tensor:
        return require(batch, "mlm_labels", "mlm") != -100

    def logits(self, hidden: torch.Tensor, batch: dict, padding_mask) -> torch.Tensor:
        return self._project(hidden)
