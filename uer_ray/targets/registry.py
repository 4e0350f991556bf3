"""Registry of pre-training targets. An entry is an ``nn.Module`` class with a ``Config``
dataclass, a constructor ``(cfg, ctx: TargetContext)``, a class attribute ``needs_decoder``,
``forward(hidden (B,T,H), batch, padding_mask (B,T) | None) -> TargetOutput`` and
``logits(hidden, batch, padding_mask) -> Tensor`` (inference: every position)."""

from uer_ray.registry import Registry

TARGETS: Registry = Registry("target")
