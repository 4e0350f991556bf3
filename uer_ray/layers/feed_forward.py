"""Position-wise feed-forward block of the transformer: Linear(H,F) -> act -> Linear(F,H).

Parameter names: ``inner`` Linear(H, F), ``outer`` Linear(F, H).
"""

from __future__ import annotations

import torch
from torch import nn

from uer_ray.layers.activations import get_activation


class FeedForward(nn.Module):
    """(B,T,H) -> (B,T,H)."""

    def __init__(self, hidden_size: int, ffn_size: int, act: str = "gelu", bias: bool = True):
        super().__init__()
        self.inner = nn.Linear(hidden_size, ffn_size, bias=bias)
        self.outer = nn.Linear(ffn_size, hidden_size, bias=bias)
        self.act = get_activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.outer(self.act(self.inner(x)))
