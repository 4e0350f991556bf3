"""Registries of the embedding family: ``EMBEDDINGS`` (parts summed into the input vectors) and
``SUBENCODERS`` (word vectors computed from characters)."""

from uer_ray.registry import Registry

EMBEDDINGS: Registry = Registry("embedding")
SUBENCODERS: Registry = Registry("subencoder")
