"""Strict conversion between frozen dataclass configs and plain dicts.

Ray and Tune move configs around as dicts, JSON files hold them on disk; a dataclass is what the
code reads. ``from_dict`` rejects unknown keys and wrong types with the key's path
(``encoder.layers[1].hidden_size``), so a typo in a JSON config or a search space fails at once.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from uer_ray.errors import ConfigError
from uer_ray.suggest import did_you_mean

C = TypeVar("C")


__all__ = ["ConfigError", "Options", "StageOptions", "from_dict", "load_json", "to_dict"]


class Options:
    """Mixin of the stages' frozen, keyword-only option dataclasses (``PretrainOptions``,
    ``FinetuneOptions``, ...): strict ``from_dict`` (an unknown key fails with its path and a
    "did you mean"), ``to_dict`` with plain JSON values, so options travel through Ray and Tune
    as dicts and come back equal."""

    @classmethod
    def from_dict(cls, data: Any, path: str | None = None):
        return from_dict(cls, data, path or cls.__name__)

    def to_dict(self) -> dict:
        return to_dict(self)


@dataclasses.dataclass(frozen=True, kw_only=True)
class StageOptions(Options):
    """The options every training stage shares (``PretrainOptions``, ``FinetuneOptions``): how it
    is tracked on W&B, labelled and published to the zoo, and whether it draws a progress bar."""

    wandb_project: str = "uer_ray"
    wandb_group: str | None = None
    wandb_name: str | None = None
    wandb_mode: str | None = None
    wandb_tags: list[str] = dataclasses.field(default_factory=list)
    wandb_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    """extra flat config keys of the W&B run (a search logs ``encoder``, ``targets.mlm``, ...)"""
    wandb_dir: str | None = None
    """the folder whose wandb/ holds the run (default: OUT; a search keeps all its runs in one)"""
    progress: bool = True
    """the progress bar on the driver (a search turns it off: its trials print one line each)"""
    provenance: dict[str, str] = dataclasses.field(default_factory=dict)
    """labels recorded as they are (a search sets ``search`` and ``trial``)"""
    publish: str | None = None
    """publish the result (pre-training: ``final/``) to the zoo when done: a name, or "" for
    the derived name"""
    zoo: str | None = None
    """the zoo of ``zoo:`` references and ``publish`` (default: UER_RAY_ZOO, else the cache)"""


def to_dict(obj: Any) -> Any:
    """A dataclass (possibly nested, with lists/dicts/tuples) as plain JSON-able values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    return obj


def from_dict(cls: type[C], data: Any, path: str = "") -> C:
    """Build dataclass ``cls`` from ``data``, checking keys and types recursively."""
    return _convert(cls, data, path or cls.__name__)


def load_json(cls: type[C], file: str | Path) -> C:
    with open(file, encoding="utf-8") as f:
        return from_dict(cls, json.load(f), path=str(file))


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return _convert_dataclass(tp, value, path)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, path)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{path}: {value!r} fits none of {tp}")
    if origin is typing.Literal:
        if value not in args:
            hint = did_you_mean(value, args)
            raise ConfigError(f"{path}: {value!r} is not one of {', '.join(map(repr, args))}{hint}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__} {value!r}")
        item = args[0] if args else Any
        out = [_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__} {value!r}")
        kt, vt = args if args else (Any, Any)
        return {_convert(kt, k, f"{path}.{k}"): _convert(vt, v, f"{path}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    return value


def _convert_dataclass(cls: Any, value: Any, path: str) -> Any:
    if dataclasses.is_dataclass(value) and isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a mapping for {cls.__name__}, got {value!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in value if k not in fields]
    if unknown:
        k = unknown[0]
        hint = did_you_mean(k, fields)
        raise ConfigError(f"{path}.{k}: unknown key{hint} (known: {', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        if name in value:
            kwargs[name] = _convert(hints[name], value[name], f"{path}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{path}.{name}: required key is missing")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{path}: {e}") from e
