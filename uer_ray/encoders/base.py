"""What every encoder is (UER paper §3.3): the ``Encoder`` base class, whose class attributes and
class methods are the facts the rest of the package reads off an encoder, and the ``ENCODERS``
registry (one registered encoder per file of this folder, named after it).

An encoder maps ``x`` (B,T,D) and ``padding_mask`` (B,T) bool (True at padding, or None) to
(B,T,H). It is built as ``cls(cfg, input_dim)`` from its ``Config`` dataclass (shared sizes such
as ``hidden_size`` and ``layers`` are filled from ``ModelConfig``, docs/models.md) and sets
``input_dim`` / ``output_dim``."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from uer_ray.layers.pooling import POOLINGS
from uer_ray.registry import Registry

__all__ = ["ENCODERS", "POOLINGS", "Encoder"]


class Encoder(nn.Module):
    """Base class of the encoders. A subclass declares (docs/extending.md):

    - ``Config``: a frozen keyword-only dataclass of its options;
    - ``sees_future(cfg)``: whether the output at position t depends on tokens after t. Targets
      that predict the next token (``lm``) are refused on an encoder that sees it, and on one
      that does not say (the default ``None``);
    - ``default_pooling(cfg)``: how fine-tuning reads one vector off the output when the user
      does not choose (``first``, ``mean``, ``max``, ``last``);
    - ``lr_pretrained`` / ``lr_scratch``: the default fine-tuning learning rate, starting from
      pre-trained weights or from scratch;
    - ``bidirectional``: the output is [forward states | backward states], H/2 each (``bilm``
      reads the halves);
    - ``expected_input_dim(cfg)``: the input width it needs (None: any);
    - for generation (``uer_ray.generate``), optionally ``start``/``extend``/``reorder``: the
      encoder continues its left-to-right states one position at a time from a cache instead
      of recomputing the prefix (``incremental = True``). Encoders without them are generated
      from by recomputing every step.
    """

    name: ClassVar[str] = ""
    """set by the registry"""
    Config: ClassVar[type]
    bidirectional: ClassVar[bool] = False
    lr_pretrained: ClassVar[float] = 1e-3
    lr_scratch: ClassVar[float] = 1e-3

    input_dim: int
    output_dim: int

    @classmethod
    def sees_future(cls, cfg: Any) -> bool | None:
        return None

    @classmethod
    def default_pooling(cls, cfg: Any) -> str:
        return "mean"

    incremental: ClassVar[bool] = False
    """implements ``start``/``extend``/``reorder`` (cached generation)"""

    @classmethod
    def expected_input_dim(cls, cfg: Any) -> int | None:
        return None

    def start(self, x: torch.Tensor, lengths: torch.Tensor, capacity: int) -> tuple[torch.Tensor, Any]:
        """Generation, eval mode: the left-to-right states (B,T,H') of a right-padded batch x
        (B,T,D) whose rows hold ``lengths`` (B,) real positions, and the cache from which
        ``extend`` continues each row after its last real one; no row will pass ``capacity``
        positions. H' is H, or H/2 for a bidirectional encoder: its forward states only."""
        raise NotImplementedError(f"encoder {self.name!r} has no cached generation")

    def extend(self, x: torch.Tensor, cache: Any) -> tuple[torch.Tensor, Any]:
        """x (B,1,D): the next position of every row -> its states (B,1,H') and the cache."""
        raise NotImplementedError(f"encoder {self.name!r} has no cached generation")

    def reorder(self, cache: Any, index: torch.Tensor) -> Any:
        """The cache of rows ``index`` (beam search keeps, drops and copies rows)."""
        raise NotImplementedError(f"encoder {self.name!r} has no cached generation")


ENCODERS: Registry[type[Encoder]] = Registry("encoder", package="uer_ray.encoders", base=Encoder)
