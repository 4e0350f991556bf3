"""``char_rnn``: the character-RNN subencoder (after Ling et al. 2015): character embedding, a
bidirectional LSTM, pooled over the characters."""

from __future__ import annotations

import torch
from torch import nn

from uer_ray.embeddings.base import SUBENCODERS, pool_chars
from uer_ray.embeddings.config import SubwordConfig


@SUBENCODERS.register("char_rnn")
class CharRnn(nn.Module):
    """char_ids (N,L) -> (N,E): character embedding, bidirectional LSTM (E/2 per direction), pooled."""

    def __init__(self, cfg: SubwordConfig, out_dim: int):
        super().__init__()
        if out_dim % 2:
            raise ValueError(f"char_rnn needs an even output size, got {out_dim}")
        self.pooling = cfg.pooling
        self.chars = nn.Embedding(cfg.char_vocab_size, cfg.char_dim, padding_idx=0)
        self.rnn = nn.LSTM(cfg.char_dim, out_dim // 2, batch_first=True, bidirectional=True)

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        x, _ = self.rnn(self.chars(char_ids))  # (N,L,E)
        return pool_chars(x, char_ids != 0, self.pooling)
