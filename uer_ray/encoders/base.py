"""What every encoder is (UER paper §3.3): the ``Encoder`` base class, whose class attributes and
class methods are the facts the rest of the package reads off an encoder, and the ``ENCODERS``
registry (one registered encoder per file of this folder, named after it).

An encoder maps ``x`` (B,T,D) and ``padding_mask`` (B,T) bool (True at padding, or None) to
(B,T,H). It is built as ``cls(cfg, input_dim)`` from its ``Config`` dataclass (shared sizes such
as ``hidden_size`` and ``layers`` are filled from ``ModelConfig``, docs/models.md) and sets
``input_dim`` / ``output_dim``."""

from __future__ import annotations

from typing import Any, ClassVar

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
    - ``expected_input_dim(cfg)``: the input width it needs (None: any).
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

    @classmethod
    def expected_input_dim(cls, cfg: Any) -> int | None:
        return None


ENCODERS: Registry[type[Encoder]] = Registry("encoder", package="uer_ray.encoders", base=Encoder)
