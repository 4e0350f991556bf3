"""Registries of the embedding family (UER paper §3.1–3.2): ``EMBEDDINGS`` (parts summed into
the input vectors; one per file of this folder, named after it) and ``SUBENCODERS`` (word vectors
computed from characters, ``char_cnn.py`` / ``char_rnn.py``). A part is built as
``cls(cfg: EmbeddingConfig, vocab_size)`` and maps ``input_ids``, ``segment_ids`` (B,T) to
(B,T,E) or (1,T,E); a subencoder is built as ``cls(cfg: SubwordConfig, out_dim)`` and maps
character ids (N,L) to (N,E)."""

from __future__ import annotations

import torch

from uer_ray.registry import Registry

EMBEDDINGS: Registry = Registry("embedding", package="uer_ray.embeddings")
SUBENCODERS: Registry = Registry("subencoder", package="uer_ray.embeddings")


def pool_chars(x: torch.Tensor, valid: torch.Tensor, pooling: str) -> torch.Tensor:
    """x (N,L,D), valid (N,L) bool -> (N,D); all-padding rows give zeros."""
    m = valid.unsqueeze(-1).to(x.dtype)
    if pooling == "mean":
        return (x * m).sum(1) / m.sum(1).clamp_min(1.0)
    pooled = x.masked_fill(~valid.unsqueeze(-1), float("-inf")).amax(1)
    return torch.where(valid.any(1, keepdim=True), pooled, torch.zeros_like(pooled))
