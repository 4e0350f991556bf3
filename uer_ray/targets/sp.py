"""``sp``: sentence prediction — BERT's next-sentence prediction, ALBERT's sentence-order
prediction (Devlin et al. 2019; Lan et al. 2020), quick-thoughts-style sentence prediction
(Logeswaran & Lee 2018). The label is the shard column ``is_next`` (1: the real next sentence /
the right order); the head is the pooled classifier of ``SentenceTarget``."""

from __future__ import annotations

from uer_ray.targets.base import TARGETS, SentenceTarget


@TARGETS.register("sp")
class SpTarget(SentenceTarget):
    """hidden (B,T,H) + ``is_next`` (B,) -> loss; logits (B, labels_num)."""

    columns = ("is_next",)
