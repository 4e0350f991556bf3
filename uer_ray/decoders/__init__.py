"""Decoder family, registered in ``DECODERS``: ``transformer`` (with cross-attention), owned by
the sequence-to-sequence targets (``mt``, ``ae``). Every module of this folder is imported here,
so a new decoder file registers itself."""

import importlib
import pkgutil

from uer_ray.decoders.base import DECODERS

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["DECODERS"]
