"""``cls``: supervised classification as a pre-training target (InferSent, Conneau et al. 2017).
The label is the shard column ``label``; the number of classes comes from the shards unless the
model config sets ``labels_num``. The head is the pooled classifier of ``SentenceTarget``."""

from __future__ import annotations

from typing import Any

from uer_ray.targets.base import TARGETS, SentenceTarget, ShardFacts


@TARGETS.register("cls")
class ClsTarget(SentenceTarget):
    """hidden (B,T,H) + ``label`` (B,) -> loss; logits (B, labels_num)."""

    columns = ("label",)

    @classmethod
    def from_shards(cls, config: dict[str, Any], shards: ShardFacts) -> dict[str, Any]:
        options = dict(config.get("target_options") or {})
        mine = dict(options.get(cls.name) or {})
        mine.setdefault("labels_num", shards.labels_num())
        return {**config, "target_options": {**options, cls.name: mine}}
