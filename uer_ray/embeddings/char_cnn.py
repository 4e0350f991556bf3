"""``char_cnn``: the character-CNN subencoder (after Kim et al. 2016): character embedding, one
convolution, ReLU, pooled over the characters."""

from __future__ import annotations

import torch
from torch import nn

from uer_ray.embeddings.base import SUBENCODERS, pool_chars
from uer_ray.embeddings.config import SubwordConfig


@SUBENCODERS.register("char_cnn")
class CharCnn(nn.Module):
    """char_ids (N,L) -> (N,E): character embedding, one convolution, ReLU, pooled over characters."""

    def __init__(self, cfg: SubwordConfig, out_dim: int):
        super().__init__()
        self.pooling = cfg.pooling
        self.chars = nn.Embedding(cfg.char_vocab_size, cfg.char_dim, padding_idx=0)
        self.conv = nn.Conv1d(cfg.char_dim, out_dim, cfg.kernel_size, padding=cfg.kernel_size // 2)

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        x = self.chars(char_ids).transpose(1, 2)  # (N,C,L)
        x = torch.relu(self.conv(x))[..., : char_ids.shape[1]].transpose(1, 2)  # (N,L,E)
        return pool_chars(x, char_ids != 0, self.pooling)
