"""One registry class shared by every module family (tokenizers, processors, embeddings,
encoders, decoders, targets, tasks, interop families).

    ENCODERS = Registry("encoder", package="uer_ray.encoders", base=Encoder)

    @ENCODERS.register("lstm")          # sets LstmEncoder.name = "lstm"
    class LstmEncoder(RnnEncoder): ...

    ENCODERS.get("lstn")    # UnknownNameError: unknown encoder 'lstn'; did you mean 'lstm'? ...
    ENCODERS.where("lstm")  # .../uer_ray/encoders/lstm.py

A registry built with ``package`` imports that package (whose ``__init__`` imports every module
in it) before its first lookup, so a family's base module never imports the modules that
subclass it, and a new module file registers itself with no other edit. A name nobody
registered is looked up once more after the plugins named in ``UER_RAY_PLUGINS`` or installed
under the ``uer_ray.plugins`` entry point are imported (``uer_ray.plugins``).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Generic, TypeVar

from uer_ray.errors import UnknownNameError
from uer_ray.suggest import did_you_mean

T = TypeVar("T")


__all__ = ["Registry", "UnknownNameError"]


class Registry(Generic[T]):
    """A name → class table with decorator registration and helpful lookup errors.

    ``base``: every entry must subclass it (it declares the facts the rest of the package reads
    off an entry). ``package``: imported before the first lookup (see the module docstring)."""

    def __init__(self, kind: str, *, package: str | None = None, base: type | None = None):
        self.kind = kind
        self.package = package
        self.base = base
        self._entries: dict[str, T] = {}
        self._loaded = package is None

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator: file the class under ``name`` and set its ``name`` attribute."""

        def add(obj: T) -> T:
            if self.base is not None and not (isinstance(obj, type) and issubclass(obj, self.base)):
                raise TypeError(f"{self.kind} {name!r}: {obj!r} must subclass "
                                f"{self.base.__qualname__} (from {self.base.__module__}), the "
                                f"base that declares every {self.kind}'s facts (docs/extending.md)")
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(
                    f"{self.kind} {name!r} is registered twice: "
                    f"{self._entries[name]!r} and {obj!r}"
                )
            if isinstance(obj, type) and obj.__module__ != "builtins":
                obj.name = name
            self._entries[name] = obj
            from uer_ray import plugins

            plugins.note(obj)
            return obj

        return add

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True  # before the import: the package's modules register into us
            importlib.import_module(self.package)

    def get(self, name: str) -> T:
        self._load()
        if name not in self._entries:
            from uer_ray import plugins

            plugins.load_configured()
        try:
            return self._entries[name]
        except KeyError:
            pass
        hint = did_you_mean(name, self._entries, n=3, cutoff=0.5)
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}{hint} (available: {', '.join(self.names())})"
        )

    def where(self, name: str) -> Path:
        """The file that defines the entry ``name``."""
        return Path(inspect.getsourcefile(self.get(name)) or "?")

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return [(name, self._entries[name]) for name in self.names()]

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
