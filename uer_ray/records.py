"""The result record: the one ``metrics.json`` shape that every stage writes and that the zoo,
the search and the reports read (docs/contracts.md, "The result record").

``build_record`` assembles it from what a stage knows; ``find_record``/``read_record`` read it
back for a checkpoint folder (an unreadable file, invalid JSON or another format is an error
naming the file). Nothing here imports torch or Ray.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from uer_ray.errors import InputError, MismatchError

RECORD_FORMAT = "uer_ray.result/1"
RECORD_FILE = "metrics.json"
STAGES = ("pretrain", "finetune", "search", "recipe")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def model_section(config: dict, parameters: int, preset: str | None = None) -> dict:
    """The record's ``model`` section from a complete model config."""
    encoder = config.get("encoder", [])
    return {
        "embedding": list(config.get("embedding", [])),
        "encoder": [encoder] if isinstance(encoder, str) else list(encoder),
        "targets": {k: float(v) for k, v in dict(config.get("targets", {})).items()},
        "parameters": int(parameters),
        "preset": preset,
        "config": config,
    }


def parent_of(checkpoint: str | None, relation: str, zoo_ref: str | None = None) -> dict | None:
    """The record's ``parent`` section for a run initialised from ``checkpoint``."""
    if checkpoint is None:
        return None
    stage = None
    found = find_record(checkpoint)
    try:
        stage = read_record(found)["stage"] if found is not None else None
    except (InputError, MismatchError):
        found = None
    if found is None:
        meta = Path(checkpoint) / "meta.json"
        if meta.exists():
            produced = json.loads(meta.read_text(encoding="utf-8")).get("produced_by")
            stage = produced if produced in (*STAGES, "imported") else None
    return {"checkpoint": str(Path(checkpoint).absolute()), "zoo": zoo_ref,
            "relation": relation, "stage": stage}


def build_record(*, stage: str, name: str, model: dict, data: dict, parent: dict | None,
                 options: dict, results: dict, metrics: list[dict], checkpoint: str,
                 seconds: float, device: str, provenance: dict | None = None) -> dict:
    """A complete result record (see the module docstring for who reads it)."""
    from uer_ray.version import __version__

    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    return {
        "format": RECORD_FORMAT,
        "stage": stage,
        "name": name,
        "model": model,
        "data": data,
        "parent": parent,
        "options": options,
        "results": results,
        "metrics": metrics,
        "provenance": dict(provenance or {}),
        "checkpoint": checkpoint if "://" in str(checkpoint) else str(Path(checkpoint).absolute()),
        "seconds": round(float(seconds), 3),
        "device": device,
        "package": {"name": "uer_ray", "version": __version__},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def numeric(values: dict[str, Any] | None, prefix: str = "") -> dict[str, float]:
    """The numeric top-level entries of ``values`` (booleans excluded) as floats, optionally
    keyed ``prefix/name``: what goes to logs, W&B, Ray reports and metric rows."""
    lead = f"{prefix}/" if prefix else ""
    return {f"{lead}{k}": float(v) for k, v in (values or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def metric_rows(task: str, dataset: str, split: str, metrics: dict | None) -> list[dict]:
    """``{task, dataset, split, metric, value}`` rows for every numeric top-level metric."""
    return [{"task": task, "dataset": dataset, "split": split, "metric": k, "value": v}
            for k, v in numeric(metrics).items()]


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
