"""The embedding layer: the sum of the named parts (``word``, ``pos``, ``seg``, ...), then optional
LayerNorm and dropout (UER paper §3.2; BERT's embedding block when the parts are
``[word, pos, seg]``).

Parameter names: ``<part>.weight`` for each part (``word.weight``, ``pos.weight``,
``seg.weight``), ``word.project.*`` when factorised, ``norm.weight``/``norm.bias``.
"""

from __future__ import annotations

import torch
from torch import nn

from uer_ray.embeddings.base import EMBEDDINGS
from uer_ray.embeddings.config import EmbeddingConfig
from uer_ray.layers.dropout import dropout


class Embedding(nn.Module):
    """input_ids (B,T), segment_ids (B,T) -> (B,T,E)."""

    def __init__(self, parts: list[str], cfg: EmbeddingConfig, vocab_size: int):
        super().__init__()
        if not parts:
            raise ValueError("embedding: the list of parts is empty (e.g. [\"word\", \"pos\", \"seg\"])")
        if len(set(parts)) != len(parts):
            raise ValueError(f"embedding: a part is named twice in {parts}")
        self.part_names = list(parts)
        for name in parts:
            self.add_module(name, EMBEDDINGS.get(name)(cfg, vocab_size))
        self.norm = nn.LayerNorm(cfg.emb_size, eps=cfg.layernorm_eps) if cfg.layernorm else None
        self.dropout = cfg.dropout
        self.output_dim = cfg.emb_size

    def part(self, name: str) -> nn.Module | None:
        """The part called ``name`` (``part("word")`` is what tied output layers use), or None."""
        return self._modules.get(name) if name in self.part_names else None

    def forward(self, input_ids: torch.Tensor, segment_ids: torch.Tensor,
                positions: torch.Tensor | None = None) -> torch.Tensor:
        """``positions`` (B,T): where each token stands, for parts that read it (``positional``);
        None: 0..T-1 (generation passes each row's next position)."""
        x = None
        for name in self.part_names:
            part = self._modules[name]
            if positions is not None and getattr(part, "positional", False):
                y = part(input_ids, segment_ids, positions)
            else:
                y = part(input_ids, segment_ids)
            x = y if x is None else x + y
        if x.shape[0] != input_ids.shape[0]:  # only broadcast parts (positions): expand to the batch
            x = x.expand(input_ids.shape[0], -1, -1)
        if self.norm is not None:
            x = self.norm(x)
        return dropout(x, self.dropout, self.training) if self.dropout else x
