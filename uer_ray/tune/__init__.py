"""Search on Ray Tune (DESIGN §9; docs/search.md): ``space`` (YAML search spaces, checked whole
before any trial), ``trial`` (one trial: [stage-2 pretrain] + finetune), ``stage2`` (stage-2 runs
shared between trials), ``driver`` (the Tuner, resume, repeats), ``results`` (leaderboard, the
winner's test score, the zoo) and ``progress`` (what a running search prints).

    from uer_ray.tune import SearchOptions, load_space, search

Importing this package pulls in neither torch nor Ray.
"""

from __future__ import annotations

__all__ = ["SearchOptions", "load_space", "search"]


def __getattr__(name: str):
    if name == "load_space":
        from uer_ray.tune.checks import load_space

        return load_space
    if name in ("SearchOptions", "search"):
        from uer_ray.tune import driver

        return getattr(driver, name)
    raise AttributeError(f"module 'uer_ray.tune' has no attribute {name!r}")
