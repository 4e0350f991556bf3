"""``bart``: denoising through the decoder (BART, Lewis et al. 2020): the encoder reads the
corrupted text (text infilling, token deletion, sentence permutation), the decoder writes the
original. Shards: ``preprocess --processor bart`` writes ``tgt_ids`` in the source vocabulary."""

from __future__ import annotations

from uer_ray.targets.base import TARGETS, TextToTextTarget


@TARGETS.register("bart")
class BartTarget(TextToTextTarget):
    """hidden (B,T,H) + ``tgt_ids`` (B,T2) -> loss over the original text; logits (B,T2-1,V)."""
