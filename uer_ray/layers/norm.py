"""Normalisation layers of the transformer blocks, by name (the ``norm`` option):

* ``layernorm``: LayerNorm (Ba et al. 2016): mean subtracted, divided by the standard deviation,
  then scaled and shifted (parameters ``weight``, ``bias``); BERT, GPT-2, BART.
* ``rmsnorm``: RMSNorm (Zhang & Sennrich 2019), the "T5 LayerNorm": divided by the root mean
  square, then scaled; no mean subtraction and no bias (parameter ``weight``). The statistic is
  computed in float32 whatever the input's dtype, as T5 does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("layernorm", "rmsnorm")


class RMSNorm(nn.Module):
    """(..., H) -> (..., H): ``weight * x / sqrt(mean(x²) + eps)``."""

    def __init__(self, size: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.rms_norm(x.float(), (x.shape[-1],), None, self.eps).to(x.dtype)
        return y * self.weight


def make_norm(kind: str, size: int, eps: float) -> nn.Module:
    """The normalisation layer called ``kind`` (``NORMS``) over the last dimension ``size``."""
    if kind == "layernorm":
        return nn.LayerNorm(size, eps=eps)
    if kind == "rmsnorm":
        return RMSNorm(size, eps)
    raise ValueError(f"unknown norm {kind!r} (known: {', '.join(NORMS)})")
