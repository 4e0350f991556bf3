"""Registry of decoders (one per file of this folder, named after it). An entry has a ``Config`` dataclass, a constructor
``(cfg, *, vocab_size, memory_dim)`` and
``forward(tgt_ids (B,T2), tgt_padding (B,T2) | None, memory (B,T,H), memory_padding (B,T) | None)
-> (B,T2,Hd)``, plus ``output_dim`` and ``output_weight`` (its word table, for tied outputs)."""

from uer_ray.registry import Registry

DECODERS: Registry = Registry("decoder", package="uer_ray.decoders")
