"""Checks that config dataclasses run in ``__post_init__`` so a bad size fails at build time
with the field's name (``uer_ray.config.from_dict`` adds the key path)."""

from __future__ import annotations

from typing import Any


def require_positive(cfg: Any, *fields: str) -> None:
    """Raise ValueError naming each field of ``cfg`` that is set and not > 0."""
    for name in fields:
        value = getattr(cfg, name)
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be > 0, got {value}")


def require_probability(cfg: Any, *fields: str) -> None:
    """Raise ValueError naming each field of ``cfg`` outside [0, 1)."""
    for name in fields:
        value = getattr(cfg, name)
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value}")
