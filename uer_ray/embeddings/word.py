"""Word embedding (a V×E table, or V×e projected to E as in ALBERT, Lan et al. 2020).

Parameters: ``weight`` (V,E) or (V,e), plus ``project`` Linear(e,E) when factorised. Output
layers tied to the word embedding use ``output_weight`` (the table itself).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from uer_ray.embeddings.base import EMBEDDINGS
from uer_ray.embeddings.config import EmbeddingConfig


@EMBEDDINGS.register("word")
class WordEmbedding(nn.Module):
    """input_ids (B,T) -> (B,T,E)."""

    def __init__(self, cfg: EmbeddingConfig, vocab_size: int):
        super().__init__()
        table = cfg.factorized_size or cfg.emb_size
        self.weight = nn.Parameter(torch.empty(vocab_size, table).normal_(0.0, cfg.init_std))
        self.project = nn.Linear(table, cfg.emb_size) if cfg.factorized_size else None

    @property
    def output_weight(self) -> torch.Tensor:
        """The (V, table size) matrix that tied output projections multiply with."""
        return self.weight

    def forward(self, input_ids: torch.Tensor, segment_ids: torch.Tensor) -> torch.Tensor:
        x = F.embedding(input_ids, self.weight)
        return self.project(x) if self.project is not None else x
