"""Embedding family (UER paper §3.1–3.2): parts registered in ``EMBEDDINGS`` (``word``, ``pos``,
``sinusoidal_pos``, ``seg``, ``subword``) and character subencoders in ``SUBENCODERS``
(``char_cnn``, ``char_rnn``); ``Embedding`` sums the chosen parts."""

from uer_ray.embeddings import position, segment, subword, word  # noqa: F401  (registration)
from uer_ray.embeddings.config import EmbeddingConfig, SubwordConfig
from uer_ray.embeddings.embedding import Embedding
from uer_ray.embeddings.registry import EMBEDDINGS, SUBENCODERS

__all__ = ["EMBEDDINGS", "SUBENCODERS", "Embedding", "EmbeddingConfig", "SubwordConfig"]
