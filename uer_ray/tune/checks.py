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


def load_space(path: str | Path, *, check_builds: bool = True) -> SearchSpace:
    """Read a search-space file and check all of it (``check_builds=False``: only the file)."""
    space = read_space(path)
    if check_builds:
        check_space(space)
    return space


def check_space(space: SearchSpace) -> None:
    f = space.path
    _check_task(space)
    _check_files(space)
    for key in ("searcher", "scheduler"):
        allowed = {"searcher": ("random", "grid", "optuna"), "scheduler": ("asha", "fifo")}[key]
        if getattr(space.budget, key) not in allowed:
            raise SpaceError(f"{f}: budget.{key}: {getattr(space.budget, key)!r} is not one of "
                             f"{', '.join(allowed)}")
    if space.stage1 != "scratch" and space.vocabulary:
        raise SpaceError(f"{f}: vocabulary: a space whose stage 1 is a checkpoint uses its "
                         "tokenizer; drop the vocabulary section")
    if space.stage1 == "scratch" and not space.vocabulary:
        raise SpaceError(f"{f}: vocabulary: models trained from scratch need one (tokenizer "
                         "and file, or tokenizer and size to build it from the data)")
    vocab = _vocab_size(space)
    for enc_name, set_name in space.combinations():
        _check_build(space, enc_name, set_name, vocab)


def _check_task(space: SearchSpace) -> None:
    from uer_ray.tasks import get_task

    try:
        get_task(space.task)
    except UerRayError as e:
        raise SpaceError(f"{space.path}: task: {e}") from None


def _check_files(space: SearchSpace) -> None:
    f = space.path
    paths = {f"data.{k}": v for k, v in space.data.items()}
    if space.stage2 is not None:
        paths["stage2.corpus"] = space.stage2.corpus
    if "file" in space.vocabulary and "size" not in space.vocabulary:
        paths["vocabulary.file"] = space.vocabulary["file"]
    if space.stage1 not in ("scratch",) and not space.stage1.startswith(("zoo:", "s3://", "gs://")):
        paths["stage1"] = space.stage1
    for key, path in paths.items():
        if not Path(path).exists():
            raise SpaceError(f"{f}: {key}: no such file: {path}")
    if space.stage1.startswith("zoo:"):
        from uer_ray.zoo import resolve_checkpoint

        try:
            resolve_checkpoint(space.stage1)
        except UerRayError as e:
            raise SpaceError(f"{f}: stage1: {e}") from None


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


def model_config(space: SearchSpace, enc_name: str, set_name: str, vocab_size: int) -> dict:
    """The stage-2 (or, for ``none``, the stage-1) model config of one combination."""
    from uer_ray.models import load_preset
    from uer_ray.targets import TARGETS

    enc = space.encoders[enc_name]
    where = f"{space.path}: encoders.{enc_name}.model"
    try:
        config = load_preset(enc.model)
    except UerRayError as e:
        raise SpaceError(f"{where}: {e}") from None
    config["vocab_size"] = vocab_size
    if set_name != NO_STAGE2:
        config["targets"] = {t: 1.0 for t in space.target_sets[set_name]}
        for target in config["targets"]:
            try:
                config = TARGETS.get(target).from_shards(config, _PlaceholderShards(vocab_size))
            except UerRayError:
                pass  # an unknown name: the build check names it
    return config


def _check_build(space: SearchSpace, enc_name: str, set_name: str, vocab_size: int) -> None:
    import torch

    from uer_ray.data import PROCESSORS
    from uer_ray.models import build_model
    from uer_ray.models.builder import check_targets_fit
    from uer_ray.targets import TARGETS
    from uer_ray.tune.prepare import stage2_processor

    where = (f"{space.path}: encoders.{enc_name} with target set {set_name!r}"
             if set_name != NO_STAGE2 else f"{space.path}: encoders.{enc_name}")
    config = model_config(space, enc_name, set_name, vocab_size)
    if space.stage2 is None and set_name != NO_STAGE2:
        raise SpaceError(f"{where}: stage-2 targets without a stage2 section")
    try:
        with torch.device("meta"):
            build_model(config)
        if set_name != NO_STAGE2:
            check_targets_fit(config)
    except UerRayError as e:
        raise SpaceError(f"{where}: {e}") from None
    if set_name == NO_STAGE2:
        return
    processor = stage2_processor(space.stage2.format)
    has = PROCESSORS.get(processor).columns
    for target in config["targets"]:
        missing = [c for c in TARGETS.get(target).columns if c not in has]
        if missing:
            raise SpaceError(f"{where}: target {target!r} needs the {missing[0]!r} column, which "
                             f"stage2.format {space.stage2.format!r} (processor {processor!r}) "
                             "does not give: labelled stage-2 text is stage2.format: cls")
