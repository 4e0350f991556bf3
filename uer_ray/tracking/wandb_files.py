"""Reading W&B's offline run files (``offline-run-*/run-<id>.wandb``) without W&B's service.

wandb 0.31 writes an offline run as one binary file: a 7-byte header (``:W&B``, a 2-byte magic
number, a version byte), then a LevelDB-log framed stream — 32 KiB blocks of chunks, each with a
4-byte checksum, a 2-byte little-endian length and a type (FULL, FIRST, MIDDLE, LAST) — whose
records are ``wandb.proto.wandb_internal_pb2.Record`` messages. ``read_run`` turns one file into
the run's name, group, job type, tags, config, history rows and summary; tests and reports use
it to see exactly what a dashboard would show after ``wandb sync``.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEADER = 7
BLOCK = 32768
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    path: str
    run_id: str = ""
    name: str = ""
    group: str = ""
    job_type: str = ""
    project: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)


def chunks(data: bytes):
    """The payloads of the LevelDB-log records in ``data`` (a torn tail is ignored)."""
    pos, pending = HEADER, b""
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        if left < 7:  # a block's tail too short for a chunk header is padding
            pos += left
            continue
        length, kind = struct.unpack_from("<HB", data, pos + 4)
        if kind == 0 and length == 0:  # zero fill at the end of a block
            pos += left
            continue
        start, end = pos + 7, pos + 7 + length
        if end > len(data):
            return
        body = data[start:end]
        pos = end
        if kind == FULL:
            yield body
        elif kind == FIRST:
            pending = body
        elif kind == MIDDLE:
            pending += body
        elif kind == LAST:
            yield pending + body
            pending = b""


def _value(item) -> Any:
    try:
        return json.loads(item.value_json)
    except (ValueError, AttributeError):
        return getattr(item, "value_json", None)


def _key(item) -> str:
    return item.key if item.key else "/".join(item.nested_key)


def read_run(path: str | Path) -> OfflineRun:
    """One offline run file as an ``OfflineRun``."""
    from wandb.proto import wandb_internal_pb2 as pb

    path = Path(path)
    run = OfflineRun(path=str(path))
    for body in chunks(path.read_bytes()):
        record = pb.Record()
        try:
            record.ParseFromString(body)
        except Exception:  # a damaged record: skip it, keep the rest
            continue
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            run.run_id, run.name, run.group = r.run_id, r.display_name, r.run_group
            run.job_type, run.project, run.tags = r.job_type, r.project, list(r.tags)
            for item in r.config.update:
                run.config[_key(item)] = _value(item)
        elif kind == "config":
            for item in record.config.update:
                run.config[_key(item)] = _value(item)
        elif kind == "history":
            run.history.append({_key(i): _value(i) for i in record.history.item})
        elif kind == "artifact":
            a = record.artifact
            try:
                metadata = json.loads(a.metadata) if a.metadata else {}
            except ValueError:
                metadata = {}
            run.artifacts.append({"name": a.name, "type": a.type, "aliases": list(a.aliases),
                                  "metadata": metadata,
                                  "references": [e.ref for e in a.manifest.contents if e.ref]})
        elif kind == "summary":
            for item in record.summary.update:
                run.summary[_key(item)] = _value(item)
    run.config.pop("_wandb", None)
    return run


def is_complete(path: str | Path) -> bool:
    """The offline file holds its run's ``exit`` record (W&B has written all of it)."""
    from wandb.proto import wandb_internal_pb2 as pb

    try:
        data = Path(path).read_bytes()
    except OSError:
        return False
    for body in chunks(data):
        record = pb.Record()
        try:
            record.ParseFromString(body)
        except Exception:  # noqa: BLE001  (a torn record: not complete yet)
            continue
        if record.WhichOneof("record_type") == "exit":
            return True
    return False


def wait_complete(path: str | Path, timeout: float = 30.0) -> bool:
    """Wait until the offline file is complete. ``run.finish()`` can return while wandb-core's
    writer is still flushing the last history rows and the exit record (seen here: a file read
    right after ``finish`` missed its last rows), so whoever reads or moves the file waits."""
    import time

    deadline = time.monotonic() + timeout
    while not is_complete(path):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def read_runs(folder: str | Path) -> list[OfflineRun]:
    """Every offline run under ``folder`` (searched recursively), oldest file first."""
    files = sorted(Path(folder).rglob("offline-run-*/run-*.wandb"), key=lambda p: p.stat().st_mtime)
    return [read_run(f) for f in files]
