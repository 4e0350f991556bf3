"""``pos``: learned position embeddings (BERT/GPT-2). Positions count from 0 at the first token;
padding is at the right, so real tokens get the same positions with or without padding."""

from __future__ import annotations

import torch
from torch import nn

from uer_ray.embeddings.base import EMBEDDINGS
from uer_ray.embeddings.config import EmbeddingConfig


def check_length(t: int, limit: int) -> None:
    if t > limit:
        raise ValueError(f"sequence length {t} exceeds max_seq_length {limit} of the position embedding")


@EMBEDDINGS.register("pos")
class PositionEmbedding(nn.Module):
    """Learned table (max_seq_length, E); input_ids (B,T) -> (1,T,E). Parameter: ``weight``."""

    def __init__(self, cfg: EmbeddingConfig, vocab_size: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cfg.max_seq_length, cfg.emb_size).normal_(0.0, 0.02))

    positional = True
    """reads ``positions`` when given (generation)"""

    def forward(self, input_ids: torch.Tensor, segment_ids: torch.Tensor,
                positions: torch.Tensor | None = None) -> torch.Tensor:
        if positions is not None:
            return self.weight[positions]
        t = input_ids.shape[1]
        check_length(t, self.weight.shape[0])
        return self.weight[:t].unsqueeze(0)
