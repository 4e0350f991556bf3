"""``prefixlm``: the prefix language model (UniLM's sequence-to-sequence objective, Dong et al.
2019; T5's prefix LM, Raffel et al. 2020): one sequence ``[CLS] prefix [SEP] target [SEP]``,
segment 1 on the prefix and 2 on the target; the encoder's ``causal_with_prefix`` mask lets the
prefix see itself whole and each target position see the prefix and the target up to itself.
Position t is trained on token t+1 only where that token is in segment 2.

The projection is tied to the word table (``tie_weights``) or its own ``output`` Linear(H,V),
with an optional ``output_bias``.
"""

from __future__ import annotations

import torch

from uer_ray.targets.base import TARGETS, TargetOutput, prediction_loss, require
from uer_ray.targets.lm import LmTarget


@TARGETS.register("prefixlm")
class PrefixLmTarget(LmTarget):
    """hidden (B,T,H) + input_ids, segment_ids -> next-token loss on the target part; logits
    (B,T,V) at every position. The output layer is ``lm``'s (same options and parameter names)."""

    needs_mask = "causal_with_prefix"
    predicts_next_token = False  # the prefix sees itself whole: the mask, not this fact, guards
    generates = None
    card_task_type = "text2text-generation"

    def reads(self, batch: dict, padding_mask) -> torch.Tensor | None:
        seg = batch["segment_ids"]
        read = torch.zeros(seg.shape, dtype=torch.bool, device=seg.device)
        read[:, :-1] = seg[:, 1:] == 2
        return read

    def forward(self, hidden: torch.Tensor, batch: dict, padding_mask) -> TargetOutput:
        ids = require(batch, "input_ids", self.name)
        seg = require(batch, "segment_ids", self.name)
        valid = seg[:, 1:] == 2  # the predicted token is in the target part
        return prediction_loss(self.logits(hidden[:, :-1][valid], batch, None), ids[:, 1:][valid])
