"""``subword``: word vectors computed from the characters of each vocabulary entry (UER paper
§3.1: the subencoder layer) by a registered subencoder (``char_cnn``, ``char_rnn``).

The ``subword`` embedding part keeps a spelling table ``spellings`` (V, L) of hashed character
ids (0 = padding), filled from the vocabulary with ``set_spellings(tokens)`` and saved with the
weights. Each step encodes only the distinct ids of the batch.
"""

from __future__ import annotations

import torch
from torch import nn

from uer_ray.embeddings.base import EMBEDDINGS, SUBENCODERS
from uer_ray.embeddings.config import EmbeddingConfig, SubwordConfig


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
