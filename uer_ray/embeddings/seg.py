"""``seg``: the segment embedding (BERT's token types): ids 0 = padding, 1 = first segment, 2 = second.

Parameter: ``weight`` (segment_vocab_size, E). A Hugging Face BERT ``token_type_embeddings`` row
0/1 corresponds to our row 1/2; row 0 only ever meets padding."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from uer_ray.embeddings.base import EMBEDDINGS
from uer_ray.embeddings.config import EmbeddingConfig


@EMBEDDINGS.register("seg")
class SegmentEmbedding(nn.Module):
    """segment_ids (B,T) -> (B,T,E)."""

    def __init__(self, cfg: EmbeddingConfig, vocab_size: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cfg.segment_vocab_size, cfg.emb_size).normal_(0.0, 0.02))

    def forward(self, input_ids: torch.Tensor, segment_ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(segment_ids, self.weight)
