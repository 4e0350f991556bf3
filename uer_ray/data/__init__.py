"""Corpus → training instances → Parquet shards, and shards → padded, masked batches.

See docs/contracts.md "Shards" and docs/data.md.
"""

from uer_ray.data.collate import Collator, RayCollateFn
from uer_ray.data.masking import MaskingConfig

__all__ = ["Collator", "MaskingConfig", "RayCollateFn"]
