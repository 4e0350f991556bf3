"""Relative position bias with logarithmic buckets (T5, Raffel et al. 2020, §2.1).

Each attention head adds a learned scalar to the score of query i and key j, chosen by the bucket
of the offset j - i: offsets below ``num_buckets/2`` (per direction) have a bucket each, larger
ones share buckets whose width grows logarithmically up to ``max_distance``, beyond which all
offsets share the last bucket. Bidirectional stacks (an encoder) give half of the buckets to
keys after the query; unidirectional ones (a decoder) use them all for keys at or before it.

As in T5, one table serves every layer of a stack: it is computed once per forward pass and
added in each layer's self-attention. Parameter: ``weight`` (num_buckets, heads), the layout of
Hugging Face's ``relative_attention_bias.weight``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def relative_buckets(offset: torch.Tensor, bidirectional: bool, num_buckets: int,
                     max_distance: int) -> torch.Tensor:
    """Bucket ids (long) of key-minus-query offsets ``offset`` (any shape)."""
    base = torch.zeros_like(offset)
    if bidirectional:
        num_buckets //= 2
        base = (offset > 0).long() * num_buckets
        distance = offset.abs()
    else:
        distance = (-offset).clamp(min=0)  # later keys count as distance 0 (the mask hides them)
    exact = num_buckets // 2
    # log-spaced buckets for distances from `exact` up to `max_distance`
    far = exact + (torch.log(distance.clamp(min=1).float() / exact) / math.log(max_distance / exact)
                   * (num_buckets - exact)).long()
    far = far.clamp(max=num_buckets - 1)
    return base + torch.where(distance < exact, distance, far)


class RelativePositionBias(nn.Module):
    """Query positions (B|1, Tq) and a key count Tk -> additive scores (B|1, heads, Tq, Tk)."""

    def __init__(self, heads: int, num_buckets: int = 32, max_distance: int = 128,
                 bidirectional: bool = True):
        super().__init__()
        self.num_buckets, self.max_distance, self.bidirectional = num_buckets, max_distance, bidirectional
        self.weight = nn.Parameter(torch.empty(num_buckets, heads).normal_(0.0, 0.02))

    def forward(self, query_positions: torch.Tensor, key_length: int) -> torch.Tensor:
        keys = torch.arange(key_length, device=query_positions.device)
        offset = keys[None, None, :] - query_positions[:, :, None]  # (B|1, Tq, Tk)
        buckets = relative_buckets(offset, self.bidirectional, self.num_buckets, self.max_distance)
        return F.embedding(buckets, self.weight).permute(0, 3, 1, 2)

    def square(self, length: int, device: torch.device) -> torch.Tensor:
        """The (1, heads, T, T) bias of a whole sequence of ``length`` positions."""
        return self(torch.arange(length, device=device)[None], length)
