"""Reading a shard folder: its manifest, the vocabulary check training does before it starts,
and the shards as a streaming Ray Dataset."""

from __future__ import annotations

import json
from pathlib import Path

from uer_ray.errors import InputError, MismatchError

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
SCALAR_COLUMNS = ("is_next", "label")
"""Shard columns that hold one integer per row; every other column is a list of token ids (or
segment ids): the collator pads them per batch."""
_COMPARED = ("kind", "size", "sha256", "lowercase", "special_ids")


def read_manifest(directory: str | Path) -> dict:
    """The ``manifest.json`` of a folder written by ``preprocess``."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise InputError(f"no {MANIFEST}: not a folder written by `run.py preprocess`", str(directory))
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"unreadable manifest ({e.msg})", str(path), e.lineno) from None
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise MismatchError(f"{path}: shard format version {version!r}, this uer_ray reads "
                            f"{FORMAT_VERSION}; run `run.py preprocess` again")
    return manifest


def check_vocab(manifest: dict, tokenizer, which: str = "tokenizer") -> None:
    """Raise ``MismatchError`` naming every difference between the vocabulary the shards were
    made with (``manifest[which]``) and ``tokenizer`` (a ``Tokenizer`` or its ``describe()``)."""
    theirs = manifest.get(which)
    if theirs is None:
        raise MismatchError(f"the shard manifest records no {which}")
    ours = tokenizer if isinstance(tokenizer, dict) else tokenizer.describe()
    diffs = []
    for key in _COMPARED:
        if theirs.get(key) != ours.get(key):
            a, b = theirs.get(key), ours.get(key)
            if key == "sha256":
                a, b = str(a)[:12], str(b)[:12]
            diffs.append(f"{key} {a} vs {b}")
    if diffs:
        raise MismatchError(
            f"the shards were made with vocabulary {theirs.get('vocab_file')!r}, the model uses "
            f"{ours.get('vocab_file')!r}; they differ in " + "; ".join(diffs)
            + " (shards vs model)"
        )


def shard_files(directory: str | Path, manifest: dict | None = None) -> list[str]:
    """The Parquet files a manifest lists, checked to exist."""
    directory = Path(directory)
    manifest = manifest or read_manifest(directory)
    files = [directory / s["file"] for s in manifest["shards"]]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise InputError(f"{len(missing)} shard file(s) listed in the manifest are missing, "
                         f"e.g. {missing[0]}", str(directory))
    return [str(f) for f in files]


def read_shards(directory: str | Path, shuffle_files: bool = False, seed: int | None = None):
    """The shards as a streaming ``ray.data.Dataset`` (one row per instance). ``shuffle_files``
    visits the files in a random order each epoch without materialising anything (pair it with
    ``local_shuffle_buffer_size`` in ``iter_torch_batches``)."""
    import ray.data

    files = shard_files(directory)
    shuffle = None
    if shuffle_files:
        shuffle = ray.data.FileShuffleConfig(seed=seed) if seed is not None else "files"
    return ray.data.read_parquet(files, shuffle=shuffle)
