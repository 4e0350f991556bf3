"""The YAML files the platform reads — search spaces (``tune.space``) and zoo recipes
(``zoo.recipe``): one way to find, parse and check them, with one-line errors that name the
file, the line and the key path, in the reader's own error class."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from uer_ray.errors import UerRayError
from uer_ray.suggest import did_you_mean

_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def read_mapping(path: Path, error: type[UerRayError], kind: str, keys: tuple[str, ...]) -> tuple[dict, bytes]:
    """The top-level mapping of the YAML file ``path`` and the file's bytes. A missing file
    suggests a neighbour ("no such ``kind`` file (did you mean ...)"); invalid YAML names its
    line; a file that is not a mapping lists ``keys``."""
    import yaml

    if not path.is_file():
        near = sorted(p.name for p in path.parent.glob("*.y*ml")) if path.parent.is_dir() else []
        hint = did_you_mean(path.name, near, cutoff=0.5, brackets=True,
                            show=lambda name: str(path.parent / name))
        raise error(f"{path}: no such {kind} file{hint}")
    data = path.read_bytes()
    try:
        raw = yaml.safe_load(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise error(f"{path}{line}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(raw, dict):
        raise error(f"{path}: a {kind.replace('-', ' ')} is a mapping of keys ({', '.join(keys)})")
    return raw, data


def check_keys(section: Any, allowed: tuple[str, ...], where: str, error: type[UerRayError],
               required: tuple[str, ...] = ()) -> dict:
    """``section`` itself, once it is a mapping of ``allowed`` keys holding every ``required``
    one; an unknown key gets "did you mean"."""
    if not isinstance(section, dict):
        raise error(f"{where}: expected a mapping, got {section!r}")
    for key in section:
        if key not in allowed:
            raise error(f"{at(where, key)}: unknown key{did_you_mean(key, allowed)} (known: "
                        f"{', '.join(allowed)})")
    for key in required:
        if key not in section:
            raise error(f"{at(where, key)}: required key is missing")
    return section


def at(where: str, key: str) -> str:
    """``FILE: a.b`` + ``c`` -> ``FILE: a.b.c``; ``FILE`` + ``c`` -> ``FILE: c``."""
    return f"{where}.{key}" if ": " in where else f"{where}: {key}"


def resolve_path(text: str, base: Path, where: str, error: type[UerRayError]) -> str:
    """``${VAR}`` / ``${VAR:-default}`` expanded, then relative to ``base`` (the file's folder);
    ``zoo:`` references and ``s3://``/``gs://`` URIs are left as they are."""

    def expand(m: re.Match) -> str:
        value = os.environ.get(m.group(1), m.group(2))
        if value is None:
            raise error(f"{where}: environment variable {m.group(1)} is not set (and the "
                        f"path gives no default: write ${{{m.group(1)}:-DEFAULT}})")
        return value

    expanded = _VAR.sub(expand, str(text))
    if expanded.startswith(("zoo:", "s3://", "gs://")):
        return expanded
    p = Path(expanded).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())
