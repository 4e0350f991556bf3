"""The embedding layer: the sum of the named parts (``word``, ``pos``, ``seg``, ...), then optional
LayerNorm and dropout (UER paper §3.2; BERT's embedding block when the parts are
``[word, pos, seg]``).

Parameter names: ``<part>.weight`` for each part (``word.weight``, ``pos.weight``,
``seg.weight``), ``word.project.*`` when factorised, ``norm.weight``/``norm.bias``. A part given
in ``shared`` is another embedding's module, used but not owned (a decoder reading the encoder's
word table): it has no parameters here.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from uer_ray.embeddings.base import EMBEDDINGS
from uer_ray.embeddings.config import EmbeddingConfig
from uer_ray.layers.dropout import dropout


class Embedding(nn.Module):
    """input_ids (B,T), segment_ids (B,T) -> (B,T,E)."""

    def __init__(self, parts: list[str], cfg: EmbeddingConfig, vocab_size: int,
                 shared: dict[str, nn.Module] | None = None):
        super().__init__()
        if not parts:
            raise ValueError("embedding: the list of parts is empty (e.g. [\"word\", \"pos\", \"seg\"])")
        if len(set(parts)) != len(parts):
            raise ValueError(f"embedding: a part is named twice in {parts}")
        self.part_names = list(parts)
        self._shared = dict(shared or {})  # a plain dict: not registered as submodules
        for name in parts:
            if name not in self._shared:
                self.add_module(name, EMBEDDINGS.get(name)(cfg, vocab_size))
        self.word_scale = math.sqrt(cfg.emb_size) if cfg.scale_embedding else None
        self.norm = nn.LayerNorm(cfg.emb_size, eps=cfg.layernorm_eps) if cfg.layernorm else None
        self.dropout = cfg.dropout
        self.output_dim = cfg.emb_size

    def part(self, name: str) -> nn.Module | None:
        """The part called ``name`` (``part("word")`` is what tied output layers use), or None."""
        if name not in self.part_names:
            return None
        return self._shared[name] if name in self._shared else self._modules[name]

    def forward(self, input_ids: torch.Tensor, segment_ids: torch.Tensor,
                positions: torch.Tensor | None = None) -> torch.Tensor:
        """``positions`` (B,T): where each token stands, for parts that read it (``positional``);
        None: 0..T-1 (generation passes each row's next position)."""
        x = None
        for name in self.part_names:
            part = self.part(name)
            if positions is not None and getattr(part, "positional", False):
                y = part(input_ids, segment_ids, positions)
            else:
                y = part(input_ids, segment_ids)
            if name == "word" and self.word_scale is not None:
                y = y * self.word_scale
            x = y if x is None else x + y
        if x.shape[0] != input_ids.shape[0]:  # only broadcast parts (positions): expand to the batch
            x = x.expand(input_ids.shape[0], -1, -1)
        if self.norm is not None:
            x = self.norm(x)
        return dropout(x, self.dropout, self.training) if self.dropout else x
