"""What a zoo version holds and the entry record that describes it.

A version is a checkpoint folder (weights, config, tokenizer, and for fine-tuned models the task
files), the result record it came with (``metrics.json``), a model card (``README.md``) and the
entry record: kind, model description, data identity, training summary, downstream results as
(task, dataset, split, metric, value) rows, lineage, provenance, sha256 of every file, package
version and time. Everything here is plain dicts and files; nothing imports torch."""

from __future__ import annotations

import json
import math
import os
import struct
import time
from pathlib import Path

from uer_ray.records import RECORD_FILE
from uer_ray.zoo.refs import ZooError

ENTRY_FORMAT = "uer_ray.zoo.entry/1"
CARD_FILE = "README.md"
ENTRY_FILE = "zoo_entry.json"  # a copy of the entry record inside the version folder
KINDS = ("pre-trained", "fine-tuned", "imported")
_STAGE_KIND = {"pretrain": "pre-trained", "finetune": "fine-tuned"}
_SKIP_DIRS = {"wandb", "__pycache__"}
_RESULT_KEYS = ("task", "dataset", "split", "metric", "value")
_TRAINING_KEYS = {
    "pretrain": ("steps", "epochs", "tokens_seen", "tokens_per_s", "loss_first", "loss_last",
                 "final", "effective_batch_size", "workers", "extended"),
    "finetune": ("task", "select_metric", "best_epoch", "epochs_run", "stopped_early", "examples",
                 "labels", "pooling", "seq_length", "freeze", "crf", "workers", "seconds_per_epoch"),
}


def checkpoint_folder(path: str | Path) -> Path:
    """The checkpoint folder to publish: ``path`` itself (``config.json`` + ``model.safetensors``)
    or, for a ``pretrain --out`` folder, its ``final/``. Anything else is a ZooError."""
    folder = Path(path)
    if not folder.is_dir():
        raise ZooError(f"{path}: no such folder")
    if not (folder / "config.json").is_file() and (folder / "final" / "config.json").is_file():
        folder = folder / "final"
    missing = [f for f in ("config.json", "model.safetensors") if not (folder / f).is_file()]
    if missing:
        raise ZooError(f"{path}: not a checkpoint folder (no {' or '.join(missing)}); publish the "
                       "--out folder of pretrain or finetune, or a convert output")
    return folder.absolute()


def collect_files(folder: Path, record_path: Path | None) -> list[tuple[str, Path]]:
    """(relative name, local path) of every file a version keeps, in a stable order: the
    checkpoint's files (not W&B logs, caches, hidden files or an old card) plus the result
    record as ``metrics.json`` when it lives beside the folder (a pretrain ``final/``)."""
    out: list[tuple[str, Path]] = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        rel_root = Path(root).relative_to(folder)
        for f in sorted(files):
            rel = (rel_root / f).as_posix()
            if f.startswith(".") or rel in (CARD_FILE, ENTRY_FILE):
                continue
            out.append((rel, Path(root) / f))
    if record_path is not None and record_path.parent != folder:
        out.append((RECORD_FILE, record_path))
    return out


def safetensors_parameters(path: Path) -> int | None:
    """Number of values in a safetensors file, read from its JSON header (no torch needed)."""
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
    except (OSError, ValueError, struct.error):
        return None
    return sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")


def kind_of(record: dict | None) -> str:
    if record is None:
        return "imported"
    return _STAGE_KIND.get(record.get("stage"), "imported")


def training_summary(record: dict) -> dict:
    """Steps, tokens, seconds, losses (pretrain) or epochs and selection (finetune), plus the
    stage's options, from the result record."""
    stage = record.get("stage")
    results = record.get("results") or {}
    out = {"stage": stage, "run_name": record.get("name"), "seconds": record.get("seconds"),
           "device": record.get("device")}
    out.update({k: results[k] for k in _TRAINING_KEYS.get(stage, ()) if k in results})
    out["options"] = record.get("options") or {}
    return out


def result_rows(record: dict) -> list[dict]:
    """The record's ``metrics`` rows, checked: each has task, dataset, split, metric and a
    numeric value."""
    rows = []
    for i, row in enumerate(record.get("metrics") or []):
        if not isinstance(row, dict) or any(k not in row for k in _RESULT_KEYS):
            raise ZooError(f"result record: metrics[{i}] lacks one of {', '.join(_RESULT_KEYS)}")
        if not isinstance(row["value"], (int, float)) or isinstance(row["value"], bool):
            raise ZooError(f"result record: metrics[{i}].value is not a number: {row['value']!r}")
        rows.append({k: row[k] for k in _RESULT_KEYS})
    return rows


def build_entry(*, name: str, version: str, kind: str, model: dict, data: dict, training: dict,
                results: list[dict], lineage: dict, provenance: dict, source: dict,
                files: dict[str, dict], card_sha256: str) -> dict:
    """The entry record (``records/<version>.json``)."""
    from uer_ray.version import __version__

    return {
        "format": ENTRY_FORMAT, "name": name, "version": version, "kind": kind,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "package": {"name": "uer_ray", "version": __version__},
        "model": model, "data": data, "training": training, "results": results,
        "lineage": lineage, "provenance": provenance, "source": source,
        "files": files, "card": {"file": CARD_FILE, "sha256": card_sha256},
    }


def model_description(record: dict | None, folder: Path) -> dict:
    """embedding / encoder / targets / parameters / preset / config of a checkpoint: the result
    record's ``model`` section, else what ``config.json`` and the weights say."""
    if record is not None and record.get("model"):
        return dict(record["model"])
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    encoder = config.get("encoder", "transformer")
    return {"embedding": config.get("embedding"),
            "encoder": encoder if isinstance(encoder, list) else [encoder],
            "targets": config.get("targets"), "preset": None,
            "parameters": safetensors_parameters(folder / "model.safetensors"), "config": config}


def parse_entry(data: bytes, where: str) -> dict:
    try:
        entry = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ZooError(f"{where}: the entry record is not valid JSON ({e})") from None
    if not isinstance(entry, dict) or entry.get("format") != ENTRY_FORMAT:
        raise ZooError(f"{where}: not a zoo entry record (format {ENTRY_FORMAT!r} expected)")
    return entry


def dump(obj: dict) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
