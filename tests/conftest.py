"""Shared test fixtures. One local Ray session serves every Ray test (start-up costs seconds)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLES = REPO / "uer_ray" / "samples"


def shared_data(rel: str) -> Path:
    """A file under ../shared/data; the test is skipped where that folder is absent."""
    p = SHARED_DATA / rel
    if not p.exists():
        pytest.skip(f"{p} not present (shared data folder missing)")
    return p


@pytest.fixture(scope="session")
def ray_session():
    """One embedded Ray cluster for the whole test session."""
    import ray

    from uer_ray.cluster import ensure_ray

    started = ensure_ray()
    yield ray
    if started:
        ray.shutdown()
