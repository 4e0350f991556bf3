"""``mt``: translation as a pre-training target, as CoVe pre-trains its encoder (McCann et al.
2017). The decoder reads the shard column ``tgt_ids`` (``[CLS] target [SEP]``, padded with
pad_id), whose vocabulary may differ from the source one (``tgt_vocab_size``, from the shards)."""

from __future__ import annotations

from typing import Any

import torch

from uer_ray.targets.base import TARGETS, Seq2seqTarget, ShardFacts, TargetContext, require


@TARGETS.register("mt")
class MtTarget(Seq2seqTarget):
    """Translation: hidden (B,T,H) + ``tgt_ids`` (B,T2) -> loss over the target tokens."""

    logits_shape = ("B", "T_tgt-1", "V_tgt")
    columns = logits_columns = ("tgt_ids",)
    output_vocabulary = "target"

    @classmethod
    def from_shards(cls, config: dict[str, Any], shards: ShardFacts) -> dict[str, Any]:
        return {**config, "tgt_vocab_size": shards.tgt_vocab_size or shards.vocab_size}

    def _vocab_size(self, ctx: TargetContext) -> int:
        if ctx.tgt_vocab_size is None:
            raise ValueError("target 'mt' needs tgt_vocab_size (the target-side vocabulary size)")
        return ctx.tgt_vocab_size

    def _sequence(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        ids = require(batch, "tgt_ids", self.name)
        return ids, ids == self.pad_id
