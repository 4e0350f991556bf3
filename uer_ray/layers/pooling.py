"""Reading one vector off a sequence of hidden states: what sentence-level targets and fine-tuning
heads share."""

from __future__ import annotations

import torch

POOLINGS = ("first", "mean", "max", "last")


def pool(hidden: torch.Tensor, keep: torch.Tensor | None, how: str) -> torch.Tensor:
    """(B,T,H) hidden states and (B,T) bool mask of real tokens (None: all real) -> (B,H).

    ``first``: the first token ([CLS]); ``last``: the last real token (what a left-to-right
    encoder has read everything by); ``mean``/``max``: over real tokens only, so padding never
    counts.
    """
    if how == "first":
        return hidden[:, 0]
    if how not in POOLINGS:
        raise ValueError(f"unknown pooling {how!r} (choose from {', '.join(POOLINGS)})")
    if keep is None:
        return {"mean": lambda: hidden.mean(1), "max": lambda: hidden.amax(1),
                "last": lambda: hidden[:, -1]}[how]()
    if how == "last":
        index = (keep.sum(1) - 1).clamp(min=0)  # (B,)
        return hidden[torch.arange(hidden.size(0), device=hidden.device), index]
    m = keep.unsqueeze(2).to(hidden.dtype)  # (B,T,1)
    if how == "mean":
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
    return hidden.masked_fill(~keep.unsqueeze(2), torch.finfo(hidden.dtype).min).amax(1)
