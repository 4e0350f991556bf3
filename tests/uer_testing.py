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


def wandb_values(data: bytes, key: str) -> list[str]:
    """The JSON values logged under ``key`` in W&B's binary run file (its items are encoded as
    key, then field 16 (0x82 0x01), a length byte and the JSON text)."""
    import re

    out = []
    for m in re.finditer(re.escape(key.encode()) + rb"\x82\x01(.)", data, re.S):
        n = m.group(1)[0]
        out.append(data[m.end() : m.end() + n].decode())
    return out
