"""Registry of encoders. An entry is an ``nn.Module`` class with a ``Config`` dataclass, a
constructor ``(cfg, input_dim)``, a classmethod ``expected_input_dim(cfg) -> int | None``
(None: any width is accepted), attributes ``input_dim``/``output_dim``, and
``forward(x (B,T,D), padding_mask (B,T) bool | None) -> (B,T,H)``."""

from uer_ray.registry import Registry

ENCODERS: Registry = Registry("encoder")
