"""Model presets: JSON files in ``uer_ray/presets/`` loadable by name (``bert-tiny``), or any JSON
config file by path."""

from __future__ import annotations

import json
from pathlib import Path

from uer_ray.errors import InputError
from uer_ray.registry import UnknownNameError
from uer_ray.suggest import did_you_mean

PRESETS_DIR = Path(__file__).resolve().parents[1] / "presets"


def list_presets() -> list[str]:
    """Names of the bundled presets."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.json"))


def load_preset(name_or_path: str | Path | dict) -> dict:
    """The config dict of a preset name (``bert-tiny``), of a JSON file path, or a copy of a
    config dict (a search samples configs without writing files)."""
    if isinstance(name_or_path, dict):
        return json.loads(json.dumps(name_or_path))  # a deep copy of plain JSON values
    path = Path(name_or_path)
    if not (path.suffix == ".json" or path.exists()):
        path = PRESETS_DIR / f"{name_or_path}.json"
        if not path.exists():
            names = list_presets()
            hint = did_you_mean(name_or_path, names, n=3, cutoff=0.5)
            raise UnknownNameError(f"unknown preset {str(name_or_path)!r}{hint} "
                                   f"(available: {', '.join(names)}; or give a JSON file path)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such model config file", str(path)) from None
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e.msg}", str(path), e.lineno) from None
    if not isinstance(data, dict):
        raise InputError("a model config must be a JSON object", str(path), 1)
    return data
