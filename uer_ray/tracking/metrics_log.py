"""``metrics.jsonl``: one JSON object per logged step, appended as training goes.

A restarted or resumed run continues from its last checkpoint, so the lines it wrote after that
checkpoint are dropped first (``truncate_after``): the file never has a gap and never counts a
step twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from uer_ray.atomic import atomic_file


def read_metrics(path: str | Path) -> list[dict]:
    """All complete records of a metrics.jsonl (a torn last line from a crash is ignored)."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break  # only the last line can be torn: the file is append-only
    return records


class MetricsLog:
    """Append-only metrics.jsonl with restart-safe truncation."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def truncate_after(self, step: int) -> None:
        """Keep records with ``step <= step`` only (atomically); drop a torn last line."""
        kept = [r for r in read_metrics(self.path) if r.get("step", 0) <= step]
        with atomic_file(self.path) as f:
            for r in kept:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")

    def append(self, record: dict) -> None:
        """Write one record and flush it to disk (a crash loses at most this line)."""
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
