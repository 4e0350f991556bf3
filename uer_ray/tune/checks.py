"""Everything a search space must pass before its first trial starts: the task and every model
name resolve, every file exists, and every reachable encoder × stage-2 target set builds — on
PyTorch's meta device, at full size but without memory — with targets whose columns the stage-2
shards will hold and that suit the encoder (``Target.predicts_next_token`` on an encoder that
does not see the future: ``models.builder.check_targets_fit``). ``load_space`` reads a space
file and checks it."""

from __future__ import annotations

from pathlib import Path

from uer_ray.errors import UerRayError
from uer_ray.tune.domains import SpaceError
from uer_ray.tune.space import NO_STAGE2, SearchSpace, read_space

# placeholder vocabulary size for the build check when the vocabulary is built at search start
CHECK_VOCAB = 1000


def load_space(path: str | Path, *, check_builds: bool = True, zoo: str | None = None) -> SearchSpace:
    """Read a search-space file and check all of it (``check_builds=False``: only the file).
    Stage-1 ``zoo:`` references resolve in ``zoo`` (default: UER_RAY_ZOO, else the cache):
    each entry is fetched and verified, and the returned space names it by version."""
    space = read_space(path)
    if check_builds:
        space = check_space(space, zoo=zoo)
    return space


def check_space(space: SearchSpace, *, zoo: str | None = None) -> SearchSpace:
    """Check the space; returns it with its stage-1 ``zoo:`` references pinned to versions."""
    f = space.path
    _check_task(space)
    _check_files(space)
    space, folders = stage1_folders(space, zoo)
    for key in ("searcher", "scheduler"):
        allowed = {"searcher": ("random", "grid", "optuna"), "scheduler": ("asha", "fifo")}[key]
        if getattr(space.budget, key) not in allowed:
            raise SpaceError(f"{f}: budget.{key}: {getattr(space.budget, key)!r} is not one of "
                             f"{', '.join(allowed)}")
    if folders and space.vocabulary:
        raise SpaceError(f"{f}: vocabulary: a space whose encoders start from stage-1 checkpoints "
                         "uses their tokenizer; drop the vocabulary section")
    if not folders and not space.vocabulary:
        raise SpaceError(f"{f}: vocabulary: models trained from scratch need one (tokenizer "
                         "and file, or tokenizer and size to build it from the data)")
    if folders:
        tok = _shared_tokenizer(space, folders)
        vocab = tok.vocab_size
        scratch = [n for n, e in space.encoders.items() if not e.from_checkpoint]
        if scratch and tok.file_option != "vocab":
            raise SpaceError(f"{f}: encoders.{scratch[0]} starts from scratch beside stage-1 "
                             f"checkpoints whose {tok.name} tokenizer reads no vocab.txt; start "
                             "it from a checkpoint too")
    else:
        vocab = _vocab_size(space)
    for enc_name, set_name in space.combinations():
        _check_build(space, enc_name, set_name, vocab, folders.get(enc_name))
    return space


def stage1_folders(space: SearchSpace, zoo: str | None = None) -> tuple[SearchSpace, dict[str, Path]]:
    """The local checkpoint folder of every encoder that starts from one (``zoo:`` entries
    fetched and verified, ``pretrain --out`` folders as their ``final/``), and the space with
    its ``zoo:`` references pinned to the version they named now (so that every trial starts
    from the same weights while ``latest`` moves on). Encoders that start from scratch beside
    them use the checkpoints' tokenizer (the trials share one): the study of what stage 1 is
    worth compares an encoder with and without it."""
    from dataclasses import replace

    from uer_ray.models.checkpoint import checkpoint_folder
    from uer_ray.zoo import Zoo, is_zoo_ref, resolve_checkpoint

    f = space.path
    starts = {n: e for n, e in space.encoders.items() if e.from_checkpoint}
    folders, encoders = {}, dict(space.encoders)
    for name, enc in starts.items():
        ref = enc.stage1
        try:
            if is_zoo_ref(ref):
                entry, version = Zoo(zoo).resolve(ref)
                ref = f"zoo:{entry}@{version}"
            folders[name] = checkpoint_folder(resolve_checkpoint(ref, zoo=zoo))
        except UerRayError as e:
            raise SpaceError(f"{f}: {enc.stage1_key}: {e}") from None
        encoders[name] = replace(enc, stage1=ref)
    return replace(space, encoders=encoders), folders


def _shared_tokenizer(space: SearchSpace, folders: dict[str, Path]):
    """The stage-1 checkpoints' one tokenizer; checkpoints with different ones are refused."""
    from uer_ray.tokenizers import load_tokenizer

    seen: dict[str, tuple[str, dict]] = {}
    for name, folder in folders.items():
        enc = space.encoders[name]
        try:
            tok = load_tokenizer(folder / "tokenizer")
        except UerRayError as e:
            raise SpaceError(f"{space.path}: {enc.stage1_key}: {enc.stage1} has no usable "
                             f"tokenizer/ ({e})") from None
        d = tok.describe()
        key = {k: d.get(k) for k in ("kind", "sha256", "size", "lowercase", "special_ids")}
        for other, (ref, known) in seen.items():
            if known != key:
                diff = ", ".join(f"{k} {str(known[k])[:12]} vs {str(key[k])[:12]}"
                                 for k in key if known[k] != key[k])
                raise SpaceError(f"{space.path}: {enc.stage1_key}: {enc.stage1} and "
                                 f"encoders.{other}'s stage1 {ref} have different tokenizers "
                                 f"({diff}); the trials share one (the stage-2 shards are made "
                                 "once with it): start every encoder from models that share a "
                                 "vocabulary")
        seen[name] = (enc.stage1, key)
    return tok


def _check_task(space: SearchSpace) -> None:
    from uer_ray.suggest import did_you_mean
    from uer_ray.tasks import get_task

    try:
        task = get_task(space.task)
    except UerRayError as e:
        raise SpaceError(f"{space.path}: task: {e}") from None
    choices = task.selectable_metrics()
    if space.metric is not None and space.metric not in choices:
        raise SpaceError(f"{space.path}: metric: {space.metric!r} is not a metric task "
                         f"{space.task} picks its best epoch by ({', '.join(choices)})"
                         + did_you_mean(space.metric, choices))


def _check_files(space: SearchSpace) -> None:
    f = space.path
    paths = {f"data.{k}": v for k, v in space.data.items()}
    if space.stage2 is not None:
        paths["stage2.corpus"] = space.stage2.corpus
    if "file" in space.vocabulary and "size" not in space.vocabulary:
        paths["vocabulary.file"] = space.vocabulary["file"]
    for enc in space.encoders.values():
        if enc.from_checkpoint and not enc.stage1.startswith(("zoo:", "s3://", "gs://")):
            paths[enc.stage1_key] = enc.stage1
    for key, path in paths.items():
        if not Path(path).exists():
            raise SpaceError(f"{f}: {key}: no such file: {path}")


def _vocab_size(space: SearchSpace) -> int:
    v = space.vocabulary
    if "file" in v and Path(v["file"]).is_file() and "size" not in v:
        from uer_ray.tokenizers import build_tokenizer

        try:
            return build_tokenizer(v.get("tokenizer", "wordpiece"), vocab=v["file"]).vocab_size
        except UerRayError as e:
            raise SpaceError(f"{space.path}: vocabulary: {e}") from None
    return int(v.get("size", CHECK_VOCAB))


class _PlaceholderShards:
    """What the build check tells a target about shards that do not exist yet."""

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size
        self.tgt_vocab_size = None

    def labels_num(self) -> int:
        return 2


def model_config(space: SearchSpace, enc_name: str, set_name: str, vocab_size: int,
                 checkpoint: Path | None = None) -> dict:
    """The stage-2 (or, for ``none``, the stage-1) model config of one combination: the
    encoder's model, or its stage-1 checkpoint's config."""
    from uer_ray.models import load_preset, read_config
    from uer_ray.targets import TARGETS

    enc = space.encoders[enc_name]
    where = f"{space.path}: " + (enc.stage1_key if checkpoint else f"encoders.{enc_name}.model")
    try:
        config = read_config(checkpoint).to_dict() if checkpoint else load_preset(enc.model)
    except UerRayError as e:
        raise SpaceError(f"{where}: {e}") from None
    config["vocab_size"] = vocab_size
    if set_name == NO_STAGE2:  # fine-tuned from scratch: an mt target shares the vocabulary
        from uer_ray.train.finetune import shared_tgt_vocab_size

        shared = shared_tgt_vocab_size(config, vocab_size)
        if shared is not None:
            config["tgt_vocab_size"] = shared
    else:
        config["targets"] = {t: 1.0 for t in space.target_sets[set_name]}
        for target in config["targets"]:
            try:
                config = TARGETS.get(target).from_shards(config, _PlaceholderShards(vocab_size))
            except UerRayError:
                pass  # an unknown name: the build check names it
    return config


def _check_build(space: SearchSpace, enc_name: str, set_name: str, vocab_size: int,
                 checkpoint: Path | None = None) -> None:
    import torch

    from uer_ray.data import PROCESSORS
    from uer_ray.models import build_model, on_meta
    from uer_ray.models.builder import check_targets_fit
    from uer_ray.targets import TARGETS
    from uer_ray.tasks import get_task
    from uer_ray.tune.prepare import stage2_processor

    where = (f"{space.path}: encoders.{enc_name} with target set {set_name!r}"
             if set_name != NO_STAGE2 else f"{space.path}: encoders.{enc_name}")
    config = model_config(space, enc_name, set_name, vocab_size, checkpoint)
    if space.stage2 is None and set_name != NO_STAGE2:
        raise SpaceError(f"{where}: stage-2 targets without a stage2 section")
    try:
        with on_meta():
            model = build_model(config)
            # the task's fine-tuning model (text2text: the model must have a decoder)
            get_task(space.task).finetune_model(model, torch.nn.Identity())
        if set_name != NO_STAGE2:
            check_targets_fit(config)
    except UerRayError as e:
        raise SpaceError(f"{where}: {e}") from None
    if set_name == NO_STAGE2:
        return
    processor = stage2_processor(space.stage2.format, space.stage2.processor)
    has = PROCESSORS.get(processor).columns
    for target in config["targets"]:
        missing = [c for c in TARGETS.get(target).columns if c not in has]
        if missing:
            makers = [n for n in PROCESSORS.names() if missing[0] in PROCESSORS.get(n).columns
                      and PROCESSORS.get(n).line_format == "one document"]
            how = ("labelled stage-2 text is stage2.format: cls" if missing[0] == "label" else
                   f"stage2.processor: {' or '.join(makers)} makes it from the documents" if makers
                   else "no stage-2 processor makes it")
            raise SpaceError(f"{where}: target {target!r} needs the {missing[0]!r} column, which "
                             f"stage2.format {space.stage2.format!r} (processor {processor!r}) "
                             f"does not give: {how}")
