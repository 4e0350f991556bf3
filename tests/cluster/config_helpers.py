"""Helpers of the offline config tests: the shipped files, and broken copies of them."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import yaml

from uer_ray.clusters.report import Problem
from uer_ray.clusters.validate import check_paths

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "cluster"


def load(rel: str) -> dict:
    return yaml.safe_load((CLUSTER / rel).read_text())


def problems_of(path: Path) -> list[Problem]:
    return [p for r in check_paths([path]) for p in r.problems]


def broken(tmp_path: Path, rel: str, mutate: Callable[[dict], None]) -> list[Problem]:
    """Problems of a copy of ``cluster/rel`` changed by ``mutate`` (given the parsed YAML)."""
    doc = copy.deepcopy(load(rel))
    mutate(doc)
    path = tmp_path / Path(rel).name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return problems_of(path)


def named(problems: list[Problem], where: str, *words: str) -> bool:
    """Whether one problem is about field ``where`` and says every one of ``words``."""
    return any(p.where == where and all(w in p.message for w in words) for p in problems)


def describe(problems: list[Problem]) -> str:
    return "\n".join(map(str, problems)) or "(no problem found)"
