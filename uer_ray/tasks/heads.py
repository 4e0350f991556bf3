"""Task heads on top of ``Model.encode`` (contracts: (B,T,H) hidden states, padding where
``segment_ids == 0``), and ``FinetuneModel`` which joins a pre-trained model and a head.

The sequence head follows UER-py's classifier: pool the hidden states, a dense layer with tanh,
dropout, then the output projection. The tagging head is a per-token projection, optionally
followed by a CRF.
"""

from __future__ import annotations

import torch
from torch import nn

from uer_ray.layers.pooling import POOLINGS, pool
from uer_ray.tasks.crf import Crf


class SequenceHead(nn.Module):
    """(B,T,H) -> (B,num_outputs): pooling, dense + tanh, dropout, output layer."""

    def __init__(self, hidden_size: int, num_outputs: int, pooling: str = "first", dropout: float = 0.1):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r} (choose from {', '.join(POOLINGS)})")
        self.pooling = pooling
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_size, num_outputs)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pooled = torch.tanh(self.dense(pool(hidden, mask, self.pooling)))  # (B,H)
        return self.output(self.dropout(pooled))


class TagHead(nn.Module):
    """(B,T,H) -> (B,T,num_tags) emission scores; with ``crf`` a CRF scores and decodes paths."""

    def __init__(self, hidden_size: int, num_tags: int, crf: bool = False, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_size, num_tags)
        self.crf = Crf(num_tags) if crf else None

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.output(self.dropout(hidden))


class FinetuneModel(nn.Module):
    """A pre-trained ``Model`` (its ``encode``) with a task head.

    ``forward(input_ids (B,T), segment_ids (B,T)) -> head output`` ((B,C) or (B,T,C)).
    The pre-training targets inside ``model`` are kept (so the encoder can be saved as an
    ordinary checkpoint) but are not used.
    """

    def __init__(self, model: nn.Module, head: nn.Module):
        super().__init__()
        self.model = model
        self.head = head
        # The pre-training targets get no gradient here: mark them so (the optimiser skips them
        # and DDP does not wait for their gradients). Weights they share with the encoder stay
        # trainable.
        backbone = {id(p) for part in (model.embedding, model.encoder) for p in part.parameters()}
        for p in model.targets.parameters():
            if id(p) not in backbone:
                p.requires_grad_(False)

    def forward(self, input_ids: torch.Tensor, segment_ids: torch.Tensor) -> torch.Tensor:
        hidden = self.model.encode(input_ids, segment_ids)  # (B,T,H)
        return self.head(hidden, segment_ids != 0)

    def freeze_encoder(self) -> None:
        """Feature-extractor strategy: only the head trains."""
        for p in self.model.parameters():
            p.requires_grad_(False)
