"""Padding-free token rows for the transformer (the "unpadding" of packed-sequence BERT training).

Everything in a transformer block except attention acts on each token alone: the Q/K/V and output
projections, the feed-forward block, LayerNorm, residuals and dropout. Those run on the real
tokens only, as one (N, H) matrix, instead of on all B·T rows of a padded batch; attention
scatters Q, K and V back into the padded (B, T) layout, where the key mask keeps padding out, and
gathers its output rows again. Outputs at real tokens equal the padded computation's (up to float
rounding); the encoder returns zeros at padding positions, which no target reads.

On the CLUECorpusSmall pre-training batches (22% padding) this cut a bert-mini training step by
the share of work padding cost (``bench/model_step.py --padded``).
"""

from __future__ import annotations

import torch

# Pack only when at least this share of the rows is padding: below it the gather/scatter
# per layer costs about what the skipped rows save.
MIN_PADDING_SHARE = 0.05


class Packing:
    """Index of the real tokens of a (B, T) batch, flattened to B·T rows."""

    def __init__(self, rows: torch.Tensor, batch: int, length: int):
        self.rows = rows  # (N,) int64, ascending
        self.batch = batch
        self.length = length

    @classmethod
    def of(cls, padding_mask: torch.Tensor | None) -> Packing | None:
        """A packing for ``padding_mask`` (B, T, True at padding), or None where packing does not
        pay: no mask, too little padding, or inside ``torch.compile`` (dynamic row counts would
        recompile the graph)."""
        if padding_mask is None or torch.compiler.is_compiling():
            return None
        keep = ~padding_mask.reshape(-1)
        rows = keep.nonzero().squeeze(1)
        if rows.numel() > (1.0 - MIN_PADDING_SHARE) * keep.numel():
            return None
        b, t = padding_mask.shape
        return cls(rows, b, t)

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, ...) -> (N, ...): the real tokens' rows."""
        return x.flatten(0, 1).index_select(0, self.rows)

    def unpack(self, x: torch.Tensor) -> torch.Tensor:
        """(N, ...) -> (B, T, ...), zeros at padding."""
        out = x.new_zeros(self.batch * self.length, *x.shape[1:])
        return out.index_copy_(0, self.rows, x).view(self.batch, self.length, *x.shape[1:])
