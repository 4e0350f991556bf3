"""Encoder family (UER paper §3.3), registered in ``ENCODERS``: one file per encoder, named after
it (``rnn``, ``lstm``, ``gru``, ``bilstm``, ``bigru``, ``cnn``, ``gatedcnn``, ``attention``,
``transformer``, ``gpt``); ``EncoderStack`` chains any of them. Every module of this folder is
imported here, so a new encoder file registers itself."""

import importlib
import pkgutil

from uer_ray.encoders.base import ENCODERS, POOLINGS, Encoder
from uer_ray.encoders.stack import EncoderStack

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["ENCODERS", "POOLINGS", "Encoder", "EncoderStack"]
