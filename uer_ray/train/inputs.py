"""What pre-training reads before it starts: the shard folder's manifest and tokenizer, and the
model config that must agree with both (DESIGN §3: training refuses a shard folder whose
manifest does not match the model's vocabulary)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uer_ray.errors import InputError, MismatchError

# Shard columns each target reads (docs/contracts.md "Model": where target labels come from).
TARGET_COLUMNS = {"sp": "is_next", "cls": "label", "mt": "tgt_ids"}
PROCESSOR_HINT = {"is_next": "bert (or albert)", "label": "cls or cls_mlm", "tgt_ids": "mt"}


@dataclass(frozen=True)
class ShardInfo:
    """The shard folder as training sees it."""

    path: str
    manifest: dict
    manifest_sha256: str
    processor: str
    columns: list[str]
    tokenizer: Any
    tgt_vocab_size: int | None


def _columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    files = sorted(path.glob("*.parquet"))
    if not files:
        raise InputError(
            "no *.parquet shards here (make them with `python run.py preprocess`)", str(path)
        )
    return list(pq.read_schema(files[0]).names)


def _tokenizer(path: Path, manifest: dict, init: str | None):
    """The tokenizer of the run: the checkpoint's with --init (the model's vocabulary), else the
    one saved with the shards; either way it must match the manifest."""
    from uer_ray.data import check_vocab
    from uer_ray.tokenizers import load_tokenizer

    source = None
    if init and (Path(init) / "tokenizer").is_dir():
        source = Path(init) / "tokenizer"
    elif (path / "tokenizer").is_dir():
        source = path / "tokenizer"
    if source is None:
        raise InputError("no tokenizer/ folder beside the shards (re-run preprocess)", str(path))
    tokenizer = load_tokenizer(source)
    check_vocab(manifest, tokenizer)
    return tokenizer


def load_shard_info(data: str | Path, *, init: str | None = None) -> ShardInfo:
    """Read ``DIR/manifest.json``, the shard schema and the tokenizer; check they agree."""
    from uer_ray.data import read_manifest

    path = Path(data)
    if not path.is_dir():
        raise InputError("shard folder not found", str(path))
    manifest = read_manifest(path)
    raw = (path / "manifest.json").read_bytes()
    tgt = manifest.get("tgt_tokenizer") or {}
    return ShardInfo(
        path=str(path),
        manifest=manifest,
        manifest_sha256=hashlib.sha256(raw).hexdigest(),
        processor=str(manifest.get("processor", "?")),
        columns=_columns(path),
        tokenizer=_tokenizer(path, manifest, init),
        tgt_vocab_size=tgt.get("size") if tgt else None,
    )


def model_config_for(
    model: str | None, info: ShardInfo, *, targets: dict[str, float] | None, init: str | None
) -> dict:
    """The complete model config: a preset/JSON (or the --init checkpoint's config), with the
    target weights overridden and the vocabulary sizes of the shards."""
    from uer_ray.models import ModelConfig, load_preset, read_config

    if model is not None:
        config = dict(load_preset(model))
    else:
        config = read_config(init).to_dict()
    if targets:
        config["targets"] = dict(targets)
    vocab = info.tokenizer.vocab_size
    if init and config.get("vocab_size") not in (None, vocab):
        raise MismatchError(
            f"--init {init} has vocab_size {config['vocab_size']} but the shards' "
            f"tokenizer has {vocab}"
        )
    config.update(vocab_size=vocab, pad_id=info.tokenizer.pad_id)
    if "mt" in config["targets"]:
        config["tgt_vocab_size"] = info.tgt_vocab_size or vocab
    return ModelConfig.from_dict(config, f"{model or init}").to_dict()


def check_targets(model_config: dict, info: ShardInfo) -> None:
    """Every target's labels must be in the shards (``sp`` needs ``is_next``, ...)."""
    for target in model_config["targets"]:
        column = TARGET_COLUMNS.get(target)
        if column and column not in info.columns:
            raise MismatchError(
                f"target {target!r} needs the {column!r} column, but the shards in {info.path} "
                f"were made by processor {info.processor!r} (columns: {', '.join(info.columns)}); "
                f"preprocess with processor {PROCESSOR_HINT[column]} or drop the target "
                f"(--targets {','.join(f'{t}:{w:g}' for t, w in model_config['targets'].items() if t != target) or 'mlm:1'})"
            )
