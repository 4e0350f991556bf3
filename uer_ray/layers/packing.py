"""Token rows for the transformer: padding-free ("unpadded") rows, and the rows a loss reads.

Everything in a transformer block except attention acts on each token alone: the Q/K/V and output
projections, the feed-forward block, LayerNorm, residuals and dropout. Two savings follow.

* **Padding.** Those operations run on the real tokens only, as one (N, H) matrix, instead of on
  all B·T rows of a padded batch; attention scatters Q, K and V back into the padded (B, T)
  layout, where the key mask keeps padding out, and gathers its output rows again.
* **Rows no loss reads.** In training, the last block's output matters only where a target reads
  it: the masked positions for ``mlm``, position 0 for ``sp``/``cls`` with ``first`` pooling.
  That block computes attention for every row (its keys and values need them all) but its output
  projection, feed-forward block and LayerNorms only for the rows read (``Model.read_rows_only``).

Outputs at the rows computed equal the full computation's (up to float rounding); the encoder
returns zeros elsewhere, which no target reads. ``bench/packing.py`` times both on real batches.
"""

from __future__ import annotations

import torch

# Pack only when at least this share of the rows is padding: below it the gather/scatter
# per layer costs about what the skipped rows save.
MIN_PADDING_SHARE = 0.05


class Packing:
    """Which of the B·T rows of a (B, T) batch the blocks compute: ``rows`` (N,) ascending, or
    None for all of them (then packing and unpacking are views)."""

    def __init__(self, rows: torch.Tensor | None, batch: int, length: int):
        self.rows = rows
        self.batch = batch
        self.length = length

    @classmethod
    def of(cls, padding_mask: torch.Tensor | None) -> Packing | None:
        """A packing of the real tokens for ``padding_mask`` (B, T, True at padding), or None where
        packing does not pay: no mask, too little padding, or inside ``torch.compile`` (dynamic
        row counts would recompile the graph)."""
        if padding_mask is None or torch.compiler.is_compiling():
            return None
        keep = ~padding_mask.reshape(-1)
        rows = keep.nonzero().squeeze(1)
        if rows.numel() > (1.0 - MIN_PADDING_SHARE) * keep.numel():
            return None
        return cls(rows, *padding_mask.shape)

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, ...) -> (N, ...): the computed rows."""
        flat = x.flatten(0, 1)
        return flat if self.rows is None else flat.index_select(0, self.rows)

    def unpack(self, x: torch.Tensor) -> torch.Tensor:
        """(N, ...) -> (B, T, ...), zeros at the rows not computed."""
        if self.rows is None:
            return x.view(self.batch, self.length, *x.shape[1:])
        out = x.new_zeros(self.batch * self.length, *x.shape[1:])
        return out.index_copy_(0, self.rows, x).view(self.batch, self.length, *x.shape[1:])

    def narrow(self, read: torch.Tensor) -> tuple[torch.Tensor, Packing] | None:
        """For ``read`` (B, T) bool, the rows to keep of the packed (N, ...) matrix and the
        packing of what remains; None when every computed row is read."""
        flat = read.reshape(-1)
        if self.rows is not None:
            flat = flat.index_select(0, self.rows)
        keep = flat.nonzero().squeeze(1)
        if keep.numel() == flat.numel():
            return None
        rows = keep if self.rows is None else self.rows.index_select(0, keep)
        return keep, Packing(rows, self.batch, self.length)
