"""Embedding family (UER paper §3.1–3.2): parts registered in ``EMBEDDINGS`` (``word``, ``pos``,
``sinusoidal_pos``, ``seg``, ``subword``) and character subencoders in ``SUBENCODERS``
(``char_cnn``, ``char_rnn``), one per file named after it; ``Embedding`` sums the chosen parts.
Every module of this folder is imported here, so a new part registers itself."""

import importlib
import pkgutil

from uer_ray.embeddings.base import EMBEDDINGS, SUBENCODERS
from uer_ray.embeddings.config import EmbeddingConfig, SubwordConfig
from uer_ray.embeddings.embedding import Embedding

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["EMBEDDINGS", "SUBENCODERS", "Embedding", "EmbeddingConfig", "SubwordConfig"]
