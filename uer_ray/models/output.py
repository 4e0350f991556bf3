"""``ModelOutput``: what ``Model.forward`` returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class ModelOutput:
    """``loss``: scalar tensor Σ weight·loss; ``metrics``: python floats (``loss``,
    ``<target>/loss``, ``<target>/accuracy``, ``<target>/count``); ``losses``: each target's loss
    tensor; ``hidden``: the encoder output (B,T,H); in training, zeros where no target reads when
    ``Model.read_rows_only`` applies."""

    loss: torch.Tensor
    metrics: dict[str, float] = field(default_factory=dict)
    losses: dict[str, torch.Tensor] = field(default_factory=dict)
    hidden: torch.Tensor | None = None
