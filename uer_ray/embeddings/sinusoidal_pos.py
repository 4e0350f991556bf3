"""``sinusoidal_pos``: fixed sinusoidal position embeddings (Vaswani et al. 2017), counted as
``pos`` counts them."""

from __future__ import annotations

import math

import torch
from torch import nn

from uer_ray.embeddings.base import EMBEDDINGS
from uer_ray.embeddings.config import EmbeddingConfig
from uer_ray.embeddings.pos import check_length


@EMBEDDINGS.register("sinusoidal_pos")
class SinusoidalPositionEmbedding(nn.Module):
    """Fixed sin/cos table; input_ids (B,T) -> (1,T,E). No parameters (a non-persistent buffer)."""

    def __init__(self, cfg: EmbeddingConfig, vocab_size: int):
        super().__init__()
        n, e = cfg.max_seq_length, cfg.emb_size
        pos = torch.arange(n, dtype=torch.float32)[:, None]
        freq = torch.exp(torch.arange(0, e, 2, dtype=torch.float32) * (-math.log(10000.0) / e))
        table = torch.zeros(n, e)
        table[:, 0::2] = torch.sin(pos * freq)
        table[:, 1::2] = torch.cos(pos * freq)[:, : e // 2]
        self.register_buffer("table", table, persistent=False)

    positional = True
    """reads ``positions`` when given (generation)"""

    def forward(self, input_ids: torch.Tensor, segment_ids: torch.Tensor,
                positions: torch.Tensor | None = None) -> torch.Tensor:
        if positions is not None:
            return self.table[positions]
        t = input_ids.shape[1]
        check_length(t, self.table.shape[0])
        return self.table[:t].unsqueeze(0)
