"""``gsg``: gap-sentence generation through the decoder (PEGASUS, Zhang et al. 2020): the encoder
reads the document with some whole sentences masked, the decoder writes those sentences.
Shards: ``preprocess --processor gsg`` writes ``tgt_ids`` in the source vocabulary."""

from __future__ import annotations

from uer_ray.targets.base import TARGETS, TextToTextTarget


@TARGETS.register("gsg")
class GsgTarget(TextToTextTarget):
    """hidden (B,T,H) + ``tgt_ids`` (B,T2) -> loss over the gap sentences; logits (B,T2-1,V)."""

    card_task_type = "summarization"
