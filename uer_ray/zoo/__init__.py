"""The model zoo (DESIGN §8): named models with immutable versions, movable aliases, an entry
record (kind, model, data, training summary, results, lineage, sha256 of every file) and a model
card per version, on a local folder or any store Arrow opens (``s3://``, ``gs://``, ``file://``).

Public API::

    from uer_ray import zoo
    ref = zoo.publish("runs/cls", aliases=["best-book_review"])   # EntryRef(name, version, uri)
    path = zoo.resolve_checkpoint("zoo:cluecorpussmall+bert-tiny+mlm-sp@latest")  # verified folder
    zoo.Zoo("s3://bucket/zoo").entries()                            # entry records

Nothing here imports torch; ``uer_ray.zoo.imports`` (HF / UER-py import) does, and so do the
recipes that build the zoo: ``uer_ray.zoo.recipe`` (the file), ``recipe_checks`` (checked whole
before anything runs) and ``build`` (``python run.py zoo build``: a Ray Train job per run).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from uer_ray.zoo.refs import LATEST, Ref, ZooError, is_zoo_ref, parse_ref
from uer_ray.zoo.resolve import resolve_checkpoint
from uer_ray.zoo.store import EntryRef, Zoo, default_uri

__all__ = ["LATEST", "EntryRef", "Ref", "Zoo", "ZooError", "default_uri", "entry_of", "is_zoo_ref",
           "parse_ref", "publish", "resolve_checkpoint", "resolve_entry"]


def publish(checkpoint: str | Path, *, name: str | None = None, aliases: Sequence[str] = (),
            zoo: str | None = None, provenance: dict | None = None, progress=None) -> EntryRef:
    """Publish a checkpoint folder (a ``finetune --out`` folder, a ``pretrain --out`` folder or
    its ``final/``) as a new version of ``name`` (default: derived from the result record,
    UER-py style). Results and lineage come from the checkpoint's result record; ``provenance``
    adds str -> str labels (search and trial ids). ``progress(n_bytes)`` is called as bytes
    are copied. Returns the new version's ``EntryRef``."""
    return Zoo(zoo).publish(checkpoint, name=name, aliases=aliases, provenance=provenance,
                            progress=progress)


def resolve_entry(ref: str, *, zoo: str | None = None) -> tuple[str, str, dict]:
    """(name, version, entry record) of ``zoo:NAME[@VERSION|@ALIAS]``, without fetching files
    (what a stage records as its parent: ``f"{name}@{version}"``)."""
    store = Zoo(zoo)
    name, version = store.resolve(ref)
    return name, version, store.record(name, version)


def entry_of(folder: str | Path) -> str | None:
    """``NAME@VERSION`` when ``folder`` is a zoo version (in a local store or the cache)."""
    import json

    marker = Path(folder) / "zoo_entry.json"
    if not marker.is_file():
        return None
    entry = json.loads(marker.read_text(encoding="utf-8"))
    return f"{entry['name']}@{entry['version']}"
