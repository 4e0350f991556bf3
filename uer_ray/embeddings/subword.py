"""Word vectors computed from the characters of each vocabulary entry (UER paper §3.1: the
subencoder layer; char-CNN after Kim et al. 2016, char-RNN after Ling et al. 2015).

The ``subword`` embedding part keeps a spelling table ``spellings`` (V, L) of hashed character
ids (0 = padding), filled from the vocabulary with ``set_spellings(tokens)`` and saved with the
weights. Each step encodes only the distinct ids of the batch.
"""

from __future__ import annotations

import torch
from torch import nn

from uer_ray.embeddings.config import EmbeddingConfig, SubwordConfig
from uer_ray.embeddings.registry import EMBEDDINGS, SUBENCODERS


def _pool(x: torch.Tensor, valid: torch.Tensor, pooling: str) -> torch.Tensor:
    """x (N,L,D), valid (N,L) bool -> (N,D); all-padding rows give zeros."""
    m = valid.unsqueeze(-1).to(x.dtype)
    if pooling == "mean":
        return (x * m).sum(1) / m.sum(1).clamp_min(1.0)
    pooled = x.masked_fill(~valid.unsqueeze(-1), float("-inf")).amax(1)
    return torch.where(valid.any(1, keepdim=True), pooled, torch.zeros_like(pooled))


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
        return _pool(x, char_ids != 0, self.pooling)


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
        return _pool(x, char_ids != 0, self.pooling)


def spell(token: str, cfg: SubwordConfig) -> list[int]:
    """Hashed character ids of one vocabulary entry (WordPiece ``##`` and SentencePiece ``▁``
    markers stripped), cut or padded to ``max_word_chars``."""
    text = token[2:] if token.startswith("##") and len(token) > 2 else token.lstrip("\u2581") or token
    ids = [1 + ord(c) % (cfg.char_vocab_size - 1) for c in text[: cfg.max_word_chars]]
    return ids + [0] * (cfg.max_word_chars - len(ids))


@EMBEDDINGS.register("subword")
class SubwordEmbedding(nn.Module):
    """input_ids (B,T) -> (B,T,E) from the characters of each token."""

    def __init__(self, cfg: EmbeddingConfig, vocab_size: int):
        super().__init__()
        self.cfg = cfg.subword
        self.subencoder = SUBENCODERS.get(cfg.subword.subencoder)(cfg.subword, cfg.emb_size)
        self.register_buffer("spellings", torch.zeros(vocab_size, cfg.subword.max_word_chars, dtype=torch.long))

    def set_spellings(self, tokens: list[str]) -> None:
        """Fill the spelling table from the vocabulary (token i has id i)."""
        if len(tokens) != self.spellings.shape[0]:
            raise ValueError(f"subword: {len(tokens)} tokens for a vocabulary of {self.spellings.shape[0]}")
        table = torch.tensor([spell(t, self.cfg) for t in tokens], dtype=torch.long)
        self.spellings.copy_(table)

    def forward(self, input_ids: torch.Tensor, segment_ids: torch.Tensor) -> torch.Tensor:
        ids, inverse = torch.unique(input_ids, return_inverse=True)
        vectors = self.subencoder(self.spellings[ids])  # (U,E)
        return vectors[inverse]
