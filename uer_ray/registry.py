"""One registry class shared by every module family (tokenizers, processors, embeddings,
encoders, decoders, targets, tasks).

    ENCODERS = Registry("encoder")

    @ENCODERS.register("lstm")
    class LstmEncoder(nn.Module): ...

    ENCODERS.get("lstn")  # UnknownNameError: unknown encoder 'lstn'; did you mean 'lstm'? ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from uer_ray.errors import UnknownNameError
from uer_ray.suggest import did_you_mean

T = TypeVar("T")


__all__ = ["Registry", "UnknownNameError"]


class Registry(Generic[T]):
    """A name → object table with decorator registration and helpful lookup errors."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(
                    f"{self.kind} {name!r} is registered twice: "
                    f"{self._entries[name]!r} and {obj!r}"
                )
            self._entries[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            pass
        hint = did_you_mean(name, self._entries, n=3, cutoff=0.5)
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}{hint} (available: {', '.join(self.names())})"
        )

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
