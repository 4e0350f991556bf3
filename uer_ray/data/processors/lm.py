"""``lm``: the left-to-right LM corpus (GPT); labels are input_ids shifted at training time."""

from __future__ import annotations

from uer_ray.data.processors.base import PROCESSORS, StreamProcessor


@PROCESSORS.register("lm")
class LmProcessor(StreamProcessor):
    """One document per line; ``[CLS] doc [SEP]`` streams cut into windows of seq_length."""

    columns = ("input_ids", "segment_ids")
