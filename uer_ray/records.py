"""The result record (docs/contracts.md, "The result record"): the ``metrics.json`` every stage
writes next to its outputs. The zoo, the search and the reports read only this file.

This module holds the readers; a record is a plain dict in the documented shape."""

from __future__ import annotations

import json
from pathlib import Path

from uer_ray.errors import InputError, MismatchError

RECORD_FORMAT = "uer_ray.result/1"
RECORD_FILE = "metrics.json"


def find_record(ckpt_dir: str | Path) -> Path | None:
    """The record of a checkpoint folder: the folder's own ``metrics.json``, else its parent's
    when the folder is a pretrain ``final/`` (``pretrain`` writes ``OUT/metrics.json`` beside
    ``OUT/final/``). None when there is neither."""
    folder = Path(ckpt_dir)
    own = folder / RECORD_FILE
    if own.is_file():
        return own
    beside = folder.parent / RECORD_FILE
    if folder.name == "final" and beside.is_file():
        return beside
    return None


def read_record(path: str | Path) -> dict:
    """The record at ``path`` (a ``metrics.json``), checked to be in ``RECORD_FORMAT``.

    An unreadable file, invalid JSON or another format is an error naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no result record here", str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the result record ({e})", str(path)) from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON in the result record: {e.msg}", str(path), e.lineno) from None
    found = record.get("format") if isinstance(record, dict) else None
    if found != RECORD_FORMAT:
        what = "no 'format' key (written by an older uer_ray)" if found is None else f"format {found!r}"
        raise MismatchError(f"{path}: the result record has {what}; expected {RECORD_FORMAT!r}")
    return record
