"""What pre-training reads before it starts: the shard folder's manifest and tokenizer, and the
model config that must agree with both (DESIGN §3: training refuses a shard folder whose
manifest does not match the model's vocabulary), the model checks made on the driver before Ray
starts, and the shards as the streaming Ray Dataset the workers read."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uer_ray.errors import InputError, MismatchError


@dataclass(frozen=True)
class ShardInfo:
    """The shard folder as training sees it (and as targets read it: ``targets.ShardFacts``)."""

    path: str
    manifest: dict
    manifest_sha256: str
    processor: str
    columns: list[str]
    tokenizer: Any
    tgt_vocab_size: int | None
    tgt_tokenizer: Any = None
    """the target-side tokenizer of ``mt`` shards (``tgt_tokenizer/``), saved with the model"""

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def labels_num(self) -> int:
        return labels_num(self)


def _columns(path: Path, manifest: dict) -> list[str]:
    import pyarrow.parquet as pq

    from uer_ray.data import shard_files

    files = shard_files(path, manifest)
    if not files:
        raise InputError("the manifest lists no shards (was the corpus empty?)", str(path))
    return list(pq.read_schema(files[0]).names)


def _tokenizer(path: Path, manifest: dict, init: str | None, vocab: str | None):
    """The tokenizer of the run, checked against the manifest. Where it comes from, in order:
    the ``--init`` checkpoint's ``tokenizer/`` (the model's vocabulary), ``vocab`` (``--vocab``:
    the vocab.txt or SentencePiece model the shards were made with), or the ``tokenizer/`` that
    preprocess saved beside the shards. Whichever it is must match the manifest."""
    from uer_ray.data import check_vocab
    from uer_ray.tokenizers import TOKENIZERS, build_tokenizer, load_tokenizer

    recorded = manifest.get("tokenizer") or {}
    if init and (Path(init) / "tokenizer").is_dir():
        tokenizer = load_tokenizer(Path(init) / "tokenizer")
    elif vocab:
        kind = recorded.get("kind", "wordpiece")
        key = TOKENIZERS.get(kind).file_option
        tokenizer = build_tokenizer(kind, **{key: vocab}, lowercase=recorded.get("lowercase"))
    elif (path / "tokenizer").is_dir():
        tokenizer = load_tokenizer(path / "tokenizer")
    else:
        raise InputError(
            f"no tokenizer/ beside the shards: pass --vocab with the vocabulary they were made "
            f"with ({recorded.get('vocab_file', '?')}, sha256 {str(recorded.get('sha256'))[:12]})",
            str(path),
        )
    check_vocab(manifest, tokenizer)
    return tokenizer


def load_shard_info(
    data: str | Path, *, init: str | None = None, vocab: str | None = None
) -> ShardInfo:
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
        columns=_columns(path, manifest),
        tokenizer=_tokenizer(path, manifest, init, vocab),
        tgt_vocab_size=tgt.get("size") if tgt else None,
        tgt_tokenizer=_tgt_tokenizer(path) if tgt else None,
    )


def _tgt_tokenizer(path: Path) -> Any:
    from uer_ray.tokenizers import load_tokenizer

    folder = path / "tgt_tokenizer"
    return load_tokenizer(folder) if folder.is_dir() else None


def model_config_for(
    model: str | None, info: ShardInfo, *, targets: dict[str, float] | None, init: str | None
) -> dict:
    """The complete model config: a preset/JSON (or the --init checkpoint's config), with the
    target weights overridden, the vocabulary sizes of the shards, and what each target derives
    from the shards (``Target.from_shards``)."""
    from uer_ray.models import ModelConfig, load_preset, read_config
    from uer_ray.targets import TARGETS

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
    for target in config["targets"]:
        config = TARGETS.get(target).from_shards(config, info)
    return ModelConfig.from_dict(config, f"{model or init}").to_dict()


def labels_num(info: ShardInfo) -> int:
    """Classes of the ``cls`` target: from the manifest, else the largest label + 1."""
    names = (info.manifest.get("config") or {}).get("labels") or info.manifest.get("labels")
    if isinstance(names, str):
        names = [n for n in names.split(",") if n]
    if names:
        return len(names)
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if "label" not in info.columns:
        raise MismatchError(f"a 'label' column is needed to count the classes; {info.path} has none")
    from uer_ray.data import shard_files

    files = shard_files(info.path, info.manifest)
    labels = pq.read_table(files, columns=["label"])["label"]
    return int(pc.max(labels).as_py()) + 1


def check_targets(model_config: dict, info: ShardInfo) -> None:
    """Every column a target reads must be in the shards (``sp`` needs ``is_next``, ...), and
    the encoder must not make a target trivial (``lm`` on an encoder that sees the future)."""
    from uer_ray.models.builder import check_targets_fit
    from uer_ray.targets import TARGETS

    for target in model_config["targets"]:
        missing = [c for c in TARGETS.get(target).columns if c not in info.columns]
        if missing:
            others = ",".join(f"{t}:{w:g}" for t, w in model_config["targets"].items() if t != target)
            raise MismatchError(
                f"target {target!r} needs the {missing[0]!r} column, but the shards in {info.path} "
                f"were made by processor {info.processor!r} (columns: {', '.join(info.columns)}); "
                f"preprocess with {writers_of(missing[0])} or drop the target "
                f"(--targets {others or 'mlm:1'})"
            )
    check_targets_fit(model_config)


def check_word_masking(strategy: str, model_config: dict, info: ShardInfo) -> None:
    """``whole_word``/``span`` masking needs words: the vocabulary's ``##``/``▁`` pieces, which
    Chinese text does not have (every character is a token of its own), or the jieba word
    boundaries that ``preprocess --segment jieba`` records. Refused on shards without them
    whose sample holds at least ``CJK_LIMIT`` Chinese tokens, rather than masking characters."""
    from uer_ray.data import shard_files
    from uer_ray.data.words import CJK_LIMIT, WORD_COLUMN, cjk_share, sample_ids
    from uer_ray.targets import TARGETS

    if strategy == "token" or WORD_COLUMN in info.columns:
        return
    if not any(TARGETS.get(t).needs_masking for t in model_config["targets"]):
        return
    share = cjk_share(sample_ids(shard_files(info.path, info.manifest)), info.tokenizer)
    if share >= CJK_LIMIT:
        raise MismatchError(
            f"--masking {strategy}: {share:.0%} of the tokens in {info.path} are Chinese, which "
            f"the {info.tokenizer.kind} vocabulary cannot group into words and the shards record "
            "no word boundaries, so every word would be one character; run `run.py preprocess` "
            "again with --segment jieba (or use --masking token)"
        )


def writers_of(column: str) -> str:
    """``processor X or Y``: the processors whose shards hold ``column``."""
    from uer_ray.data import PROCESSORS

    names = [n for n, cls in PROCESSORS.items() if column in cls.columns]
    return f"processor {' or '.join(names)}" if names else f"a processor that writes {column!r}"


def check_model_names(o, init: str | None) -> None:
    """The model config's keys and module names (preset, encoder, targets), before any file of
    the run is read."""
    from uer_ray.models import load_preset, read_config
    from uer_ray.models.builder import check_names

    config = dict(load_preset(o.model)) if o.model is not None else read_config(init).to_dict()
    if o.targets:
        config["targets"] = dict(o.targets)
    check_names(config, str(o.model if isinstance(o.model, str) else init or "model"))


def check_buildable(model_config: dict) -> int:
    """Build the model on PyTorch's meta device (no memory, full size): unknown module names,
    options and widths that do not chain fail here, on the driver, instead of inside every Ray
    worker after start-up. Returns the parameter count."""
    from uer_ray.models import build_model, on_meta

    with on_meta():
        model = build_model(model_config)
    return sum(p.numel() for p in model.parameters())


def build_dataset(o, info: ShardInfo, in_memory: bool = False):
    """The shards as a Ray Dataset, and the ``DataConfig`` that feeds it to the workers.

    Streamed (any corpus size): Ray Data reads the files, in a seeded random order that changes
    every epoch; each worker also shuffles rows in a local buffer seeded by (seed, rank, epoch).
    ``--deterministic`` keeps one file order for every epoch and delivers blocks in that order,
    so that a resumed run (whose Ray Data executions restart from zero) replays exactly the
    batches of an uninterrupted one.

    ``in_memory`` (a small corpus whose workers cache their shard, ``pretrain.data_in_memory``):
    the driver reads the files itself, in the seeded order, and hands them to Ray Data as blocks
    in the object store. The workers read them exactly once either way; this skips Ray Data's
    file listing, Parquet metadata and read tasks (four to six worker processes started one
    after another: about 5 s before the first batch on a 2-core machine).
    """
    import ray.data
    from ray.data import FileShuffleConfig
    from ray.train import DataConfig

    from uer_ray.data import shard_files

    files = [str(Path(f).absolute()) for f in shard_files(o.data, info.manifest)]
    if in_memory:
        import numpy as np
        import pyarrow.parquet as pq

        order = np.random.default_rng(o.seed).permutation(len(files))
        ds = ray.data.from_blocks([pq.read_table(files[i]) for i in order])
    else:
        shuffle = FileShuffleConfig(seed=o.seed, reseed_after_execution=not o.deterministic)
        ds = ray.data.read_parquet(files, shuffle=shuffle)
    # Ray Train replaces a dataset's execution options with its ingest defaults: order must be
    # requested through the DataConfig.
    with warnings.catch_warnings():
        # Ray's own defaults set a field that Ray has deprecated; the notice is not for users.
        warnings.filterwarnings("ignore", message=".*exclude_resources.*")
        options = DataConfig.default_ingest_options()
    options.preserve_order = o.deterministic
    return ds, DataConfig(execution_options={"train": options})
