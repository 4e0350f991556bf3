"""What every target shares: its runtime context, its output, and the loss/accuracy of a set of
predictions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class TargetContext:
    """Explicit runtime values a target may need (no global args object)."""

    hidden_size: int
    """H, the width of the encoder output"""
    vocab_size: int
    word_embedding: nn.Module | None = None
    """the model's ``word`` embedding part (``output_weight`` (V,e)) for tied output layers"""
    tgt_vocab_size: int | None = None
    pad_id: int = 0
    encoder_name: str = ""
    encoder_bidirectional: bool = False
    make_decoder: Callable[[int], nn.Module] | None = None
    """builds the configured decoder for a given output vocabulary size"""


@dataclass
class TargetOutput:
    """``loss`` (scalar), ``metrics`` (name -> 0-d tensor: loss, accuracy, count)."""

    loss: torch.Tensor
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)


def require(batch: dict, key: str, target: str) -> torch.Tensor:
    """``batch[key]``, or a KeyError saying which target needs it."""
    try:
        return batch[key]
    except KeyError:
        raise KeyError(f"target {target!r} needs batch key {key!r} (batch has: {', '.join(batch)})") from None


def prediction_loss(logits: torch.Tensor, labels: torch.Tensor) -> TargetOutput:
    """Mean cross-entropy and accuracy of logits (N,C) against labels (N,); N may be 0."""
    n = labels.shape[0]
    loss = F.cross_entropy(logits.float(), labels, reduction="sum") / max(n, 1)
    with torch.no_grad():
        correct = (logits.argmax(-1) == labels).sum().float()
        metrics = {"loss": loss.detach(), "accuracy": correct / max(n, 1),
                   "count": torch.tensor(float(n))}
    return TargetOutput(loss, metrics)


def tied_or_own(ctx: TargetContext, tie: bool, in_dim: int, name: str) -> tuple[nn.Module | None, int]:
    """The width an output projection reads and, when not tied, its own (V, in_dim) weight holder.

    Tied: the projection multiplies with the word table (V,e), so it reads width e."""
    if tie:
        if ctx.word_embedding is None:
            raise ValueError(f"target {name!r}: tie_weights needs a 'word' embedding part")
        return None, ctx.word_embedding.output_weight.shape[1]
    return nn.Linear(in_dim, ctx.vocab_size, bias=False), in_dim
