"""``t5``: span corruption through the decoder (T5, Raffel et al. 2020, §3.1.4): the encoder
reads the text with each corrupted span replaced by a sentinel (``<extra_id_0>``, ...), the
decoder writes the sentinels each followed by the span it stands for. Shards: ``preprocess
--processor t5`` writes ``tgt_ids`` in the source vocabulary."""

from __future__ import annotations

from uer_ray.targets.base import TARGETS, TextToTextTarget


@TARGETS.register("t5")
class T5Target(TextToTextTarget):
    """hidden (B,T,H) + ``tgt_ids`` (B,T2) -> loss over the spans to restore; logits (B,T2-1,V)."""
