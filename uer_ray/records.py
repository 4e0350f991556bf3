"""The result record: the one ``metrics.json`` shape that every stage writes and that the zoo,
the search and the reports read (docs/contracts.md, "The result record").

``build_record`` assembles it from what a stage knows; ``find_record``/``read_record`` read it
back for a checkpoint folder. Nothing here imports torch or Ray.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from uer_ray.errors import InputError

RECORD_FORMAT = "uer_ray.result/1"
RECORD_FILE = "metrics.json"
STAGES = ("pretrain", "finetune", "search")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_identity(path: str | Path | None, rows: int | None = None) -> dict | None:
    """``{path, sha256, rows}`` of an input file (None for no file)."""
    if path is None:
        return None
    p = Path(path)
    return {"path": str(p.absolute()), "sha256": sha256_file(p), "rows": rows}


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
    try:
        stage = read_record(find_record(checkpoint))["stage"]
    except InputError:
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
    from uer_ray import __version__

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
        "checkpoint": str(Path(checkpoint).absolute()),
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


def find_record(checkpoint: str | Path) -> Path:
    """The record of a checkpoint folder: its own ``metrics.json``, else (a pretrain
    ``final/``) its parent's. Raises ``InputError`` when neither is a result record."""
    folder = Path(checkpoint)
    for candidate in (folder / RECORD_FILE, folder.parent / RECORD_FILE):
        if candidate.is_file() and _is_record(candidate):
            return candidate
    raise InputError(f"no result record ({RECORD_FILE} with format {RECORD_FORMAT}) in this "
                     "folder or its parent: is it a pretrain or finetune output?", str(folder))


def read_record(path: str | Path) -> dict:
    """A result record, checked for its format."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such result record", str(path)) from None
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e.msg}", str(path), e.lineno) from None
    if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
        raise InputError(f"not a result record (format {RECORD_FORMAT!r} expected, got "
                         f"{data.get('format') if isinstance(data, dict) else None!r})", str(path))
    return data


def _is_record(path: Path) -> bool:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("format") == RECORD_FORMAT
    except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
        return False
