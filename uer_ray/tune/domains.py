"""Values of a search space: fixed, or sampled from a domain (``uer_ray.tune.space``).

In YAML a value is written as itself (fixed) or as a one-key mapping::

    lr: {loguniform: [3.0e-4, 3.0e-3]}
    batch_size: {choice: [32, 64]}
    weight: {uniform: [0.1, 1.0]}
    steps: {randint: [200, 600]}        # integers, both ends included

One description serves every searcher: ``sample(rng)`` for random search (seeded), ``grid()``
for grid search (choices only), ``suggest(trial, name)`` for Optuna's define-by-run API.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from uer_ray.errors import UerRayError
from uer_ray.suggest import did_you_mean

KINDS = ("choice", "uniform", "loguniform", "randint")


class SpaceError(UerRayError):
    """A search-space file that cannot run: the message names the file and the key path."""


@dataclass(frozen=True)
class Domain:
    """A fixed value or a distribution over values."""

    kind: str  # "fixed" or one of KINDS
    values: tuple = ()
    low: float = 0.0
    high: float = 0.0

    @property
    def finite(self) -> bool:
        return self.kind in ("fixed", "choice")

    def sample(self, rng: random.Random) -> Any:
        if self.kind == "fixed":
            return self.values[0]
        if self.kind == "choice":
            return self.values[rng.randrange(len(self.values))]
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high)
        if self.kind == "loguniform":
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return rng.randint(int(self.low), int(self.high))

    def grid(self) -> list:
        """Every value, for grid search (only fixed values and choices have a grid)."""
        return list(self.values)

    def suggest(self, trial: Any, name: str) -> Any:
        """The value an Optuna trial suggests under ``name``."""
        if self.kind == "fixed":
            return self.values[0]
        if self.kind == "choice":
            return self.values[trial.suggest_categorical(name, list(range(len(self.values))))]
        if self.kind == "uniform":
            return trial.suggest_float(name, self.low, self.high)
        if self.kind == "loguniform":
            return trial.suggest_float(name, self.low, self.high, log=True)
        return trial.suggest_int(name, int(self.low), int(self.high))

    def describe(self) -> str:
        if self.kind in ("fixed", "choice"):
            return ", ".join(map(str, self.values)) if self.kind == "choice" else str(self.values[0])
        return f"{self.kind}[{self.low:g}, {self.high:g}]"


def parse_domain(value: Any, where: str, *, numeric: bool = False, minimum: float | None = None,
                 above: bool = False) -> Domain:
    """The domain a YAML value describes; ``where`` (``file: key.path``) prefixes every error.
    ``numeric``: values must be numbers, at least ``minimum`` (above it with ``above``)."""
    bound = (minimum, above) if numeric else (None, False)
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in KINDS:
        kind, args = next(iter(value.items()))
    elif isinstance(value, dict) and len(value) == 1:
        key = str(next(iter(value)))
        raise SpaceError(f"{where}: unknown domain {key!r}{did_you_mean(key, KINDS)} (choose from {', '.join(KINDS)}, "
                         "or write the value itself)")
    else:
        _check_value(value, where, numeric, *bound)
        return Domain("fixed", (value,))
    if not isinstance(args, list) or not args:
        raise SpaceError(f"{where}.{kind}: expected a non-empty list, got {args!r}")
    if kind == "choice":
        for i, v in enumerate(args):
            _check_value(v, f"{where}.choice[{i}]", numeric, *bound)
        return Domain("choice", tuple(args))
    if len(args) != 2 or not all(_is_number(a) for a in args):
        raise SpaceError(f"{where}.{kind}: expected [low, high] numbers, got {args!r}")
    low, high = float(args[0]), float(args[1])
    if not low < high:
        raise SpaceError(f"{where}.{kind}: low {low:g} must be below high {high:g}")
    if kind == "loguniform" and low <= 0:
        raise SpaceError(f"{where}.loguniform: low must be > 0 for a log scale, got {low:g}")
    if kind == "randint" and not (float(low).is_integer() and float(high).is_integer()):
        raise SpaceError(f"{where}.randint: expected integers, got {args!r}")
    _check_value(low, f"{where}.{kind}[0]", True, *bound)
    return Domain(kind, (), low, high)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_value(v: Any, where: str, numeric: bool, minimum: float | None, above: bool) -> None:
    if not numeric:
        return
    if not _is_number(v):
        raise SpaceError(f"{where}: expected a number, got {v!r}")
    if minimum is not None and (v <= minimum if above else v < minimum):
        raise SpaceError(f"{where}: must be {'>' if above else '>='} {minimum:g}, got {v!r}")
