"""Position-wise feed-forward block of the transformer: Linear(H,F) -> act -> Linear(F,H), or
the gated form of T5 v1.1 (GLU variants, Shazeer 2020): Linear(F,H)(act(W x) * (V x)).

Parameter names: ``inner`` Linear(H, F) (the activated projection W; Hugging Face T5's ``wi`` or
``wi_0``), ``gate`` Linear(H, F) when gated (the linear projection V it is multiplied by; T5's
``wi_1``), ``outer`` Linear(F, H). ``bias=False`` drops every bias (T5).
"""

from __future__ import annotations

import torch
from torch import nn

from uer_ray.layers.activations import get_activation

FEED_FORWARDS = ("dense", "gated")


class FeedForward(nn.Module):
    """(B,T,H) -> (B,T,H)."""

    def __init__(self, hidden_size: int, ffn_size: int, act: str = "gelu", bias: bool = True,
                 gated: bool = False):
        super().__init__()
        self.inner = nn.Linear(hidden_size, ffn_size, bias=bias)
        self.gate = nn.Linear(hidden_size, ffn_size, bias=bias) if gated else None
        self.outer = nn.Linear(ffn_size, hidden_size, bias=bias)
        self.act = get_activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.inner(x))
        return self.outer(h if self.gate is None else h * self.gate(x))
