"""``mlm``: the masked-LM corpus (BERT without next-sentence prediction; masking happens
at collate time, so one corpus serves every masking strategy)."""

from __future__ import annotations

from uer_ray.data.processors.base import PROCESSORS, StreamProcessor


@PROCESSORS.register("mlm")
class MlmProcessor(StreamProcessor):
    """One document per line; ``[CLS] doc [SEP]`` streams cut into windows of seq_length."""

    columns = ("input_ids", "segment_ids")
