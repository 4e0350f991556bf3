"""``ae``: the auto-encoder corpus: each document reconstructs itself, so it is never
packed with others."""

from __future__ import annotations

from uer_ray.data.processors.base import PROCESSORS, StreamProcessor


@PROCESSORS.register("ae")
class AeProcessor(StreamProcessor):
    """One document per line; ``[CLS] doc [SEP]`` streams cut into windows of seq_length."""

    columns = ("input_ids", "segment_ids")
    packs = False
