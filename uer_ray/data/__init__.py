"""Corpus → training instances → Parquet shards, and shards → padded, masked batches.

See docs/contracts.md "Shards" and docs/data.md. ``Collator`` and ``RayCollateFn`` import torch,
so they load on first use: preprocessing workers never pay for it.
"""

from uer_ray.data.masking import MaskingConfig
from uer_ray.data.pipeline import preprocess
from uer_ray.data.processors import PROCESSORS, ProcessorConfig
from uer_ray.data.shards import check_vocab, read_manifest, read_shards, shard_files


def __getattr__(name: str):
    if name in ("Collator", "RayCollateFn"):
        from uer_ray.data import collate

        return getattr(collate, name)
    raise AttributeError(f"module 'uer_ray.data' has no attribute {name!r}")


__all__ = [
    "PROCESSORS",
    "Collator",
    "MaskingConfig",
    "ProcessorConfig",
    "RayCollateFn",
    "check_vocab",
    "preprocess",
    "read_manifest",
    "read_shards",
    "shard_files",
]
