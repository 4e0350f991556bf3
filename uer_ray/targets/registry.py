"""Registry of pre-training targets. An entry is an ``nn.Module`` class with a ``Config``
dataclass, a constructor ``(cfg, ctx: TargetContext)``, a class attribute ``needs_decoder``,
``forward(hidden (B,T,H), batch, padding_mask (B,T) | None) -> TargetOutput`` and
``logits(hidden, batch, padding_mask) -> Tensor`` (inference: every position). Optional:
``reads(batch, padding_mask) -> (B,T) bool | None``, the positions whose hidden state ``forward``
reads (None: any of them); when every target of a model says, training computes the last
transformer block only there (``Model.read_rows_only``)."""

from uer_ray.registry import Registry

TARGETS: Registry = Registry("target")
