"""Decoder family, registered in ``DECODERS``: ``transformer`` (with cross-attention), owned by
the sequence-to-sequence targets (``mt``, ``ae``)."""

from uer_ray.decoders import transformer  # noqa: F401  (registration)
from uer_ray.decoders.registry import DECODERS

__all__ = ["DECODERS"]
