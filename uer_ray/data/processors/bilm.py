"""``bilm``: the forward and backward LM corpus (ELMo); the same instances as ``lm``."""

from __future__ import annotations

from uer_ray.data.processors.base import PROCESSORS, StreamProcessor


@PROCESSORS.register("bilm")
class BilmProcessor(StreamProcessor):
    """One document per line; ``[CLS] doc [SEP]`` streams cut into windows of seq_length."""

    columns = ("input_ids", "segment_ids")
