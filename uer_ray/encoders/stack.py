"""A stack of encoders, the output of one feeding the next (UER paper §3.3, e.g. ``[cnn, lstm]``).

Parameter names: ``stack.{i}.*`` with each member's own names."""

from __future__ import annotations

import torch
from torch import nn


class EncoderStack(nn.Module):
    """(B,T,D) -> (B,T,H) through each member in turn; the builder has checked the widths chain."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.stack = nn.ModuleList(members)
        self.input_dim = members[0].input_dim
        self.output_dim = members[-1].output_dim

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        for member in self.stack:
            x = member(x, padding_mask)
        return x

    # -- generation: each member continues from its own cache (``Encoder.start``) ---------------
    @property
    def incremental(self) -> bool:
        return all(getattr(m, "incremental", False) for m in self.stack)

    def start(self, x: torch.Tensor, lengths: torch.Tensor, capacity: int) -> tuple[torch.Tensor, list]:
        caches = []
        for member in self.stack:
            x, cache = member.start(x, lengths, capacity)
            caches.append(cache)
        return x, caches

    def extend(self, x: torch.Tensor, caches: list) -> tuple[torch.Tensor, list]:
        new = []
        for member, cache in zip(self.stack, caches, strict=True):
            x, cache = member.extend(x, cache)
            new.append(cache)
        return x, new

    def reorder(self, caches: list, index: torch.Tensor) -> list:
        return [m.reorder(c, index) for m, c in zip(self.stack, caches, strict=True)]

