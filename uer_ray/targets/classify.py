"""Sentence-level targets: ``sp`` (next-sentence / sentence-order prediction, BERT and ALBERT;
quick-thoughts-style sentence prediction, Logeswaran & Lee 2018) and ``cls`` (supervised
classification, InferSent, Conneau et al. 2017).

Head: pooling (``first``: position 0 as BERT) -> ``pooler`` Linear(H,H) + tanh ->
``output`` Linear(H, labels). For BERT ``pooler`` is Hugging Face's ``bert.pooler.dense`` and
``output`` is ``cls.seq_relationship``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from uer_ray.layers.validation import require_positive
from uer_ray.targets.base import TargetContext, TargetOutput, prediction_loss, require
from uer_ray.targets.registry import TARGETS

Pooling = Literal["first", "mean", "max", "last"]


def pool(hidden: torch.Tensor, padding_mask: torch.Tensor | None, how: str) -> torch.Tensor:
    """(B,T,H) -> (B,H) over the real tokens (padding_mask True at padding)."""
    if how == "first":
        return hidden[:, 0]
    if padding_mask is None:
        return {"mean": lambda: hidden.mean(1), "max": lambda: hidden.amax(1),
                "last": lambda: hidden[:, -1]}[how]()
    keep = (~padding_mask).unsqueeze(-1)
    if how == "mean":
        return (hidden * keep).sum(1) / keep.sum(1).clamp_min(1)
    if how == "max":
        return hidden.masked_fill(~keep, float("-inf")).amax(1)
    last = (keep.squeeze(-1).sum(1) - 1).clamp_min(0)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


@dataclass(frozen=True, kw_only=True)
class SentenceConfig:
    labels_num: int = 2
    pooling: Pooling = "first"

    def __post_init__(self) -> None:
        require_positive(self, "labels_num")


class _SentenceTarget(nn.Module):
    """hidden (B,T,H) + label (B,) -> loss; logits (B, labels_num)."""

    Config = SentenceConfig
    needs_decoder = False
    label_key = ""
    name = ""

    def __init__(self, cfg: SentenceConfig, ctx: TargetContext):
        super().__init__()
        self.pooling = cfg.pooling
        self.pooler = nn.Linear(ctx.hidden_size, ctx.hidden_size)
        self.output = nn.Linear(ctx.hidden_size, cfg.labels_num)

    def reads(self, batch: dict, padding_mask) -> torch.Tensor | None:
        if self.pooling != "first":
            return None
        ids = batch["input_ids"]
        read = torch.zeros(ids.shape, dtype=torch.bool, device=ids.device)
        read[:, 0] = True
        return read

    def logits(self, hidden: torch.Tensor, batch: dict, padding_mask) -> torch.Tensor:
        return self.output(torch.tanh(self.pooler(pool(hidden, padding_mask, self.pooling))))

    def forward(self, hidden: torch.Tensor, batch: dict, padding_mask) -> TargetOutput:
        labels = require(batch, self.label_key, self.name).long()
        return prediction_loss(self.logits(hidden, batch, padding_mask), labels)


@TARGETS.register("sp")
class SpTarget(_SentenceTarget):
    """Sentence prediction; label ``is_next`` (1: real next / right order)."""

    label_key, name = "is_next", "sp"


@TARGETS.register("cls")
class ClsTarget(_SentenceTarget):
    """Supervised classification; label ``label``."""

    label_key, name = "label", "cls"
