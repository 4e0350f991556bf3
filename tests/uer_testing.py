"""Paths and helpers shared by the tests, importable as ``uer_testing`` from any test folder.

(Several folders have a conftest.py of their own, and pytest keeps whichever it imported last as
the module ``conftest``, so tests must not ``from conftest import ...``.)"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLES = REPO / "uer_ray" / "samples"


def shared_data(rel: str) -> Path:
    """A file under ../shared/data; the test is skipped where that folder is absent."""
    p = SHARED_DATA / rel
    if not p.exists():
        pytest.skip(f"{p} not present (shared data folder missing)")
    return p
