"""Everything a recipe must pass before its first run starts: every file exists, every
tokenizer, processor, preset, module and target name resolves (with "did you mean"), and every
run's model builds on PyTorch's meta device (full size, no memory) with targets that suit its
encoder (``models.builder.check_targets_fit``: ``lm`` on an encoder that sees the next token is
refused) and whose columns its corpus's processor writes (``sp`` needs ``bert`` shards).
``load_recipe`` reads a recipe file and checks it."""

from __future__ import annotations

from pathlib import Path

from uer_ray.errors import ConfigError, UerRayError
from uer_ray.zoo.recipe import Recipe, RecipeError, Run, preset, read_recipe


def load_recipe(path: str | Path, *, check_builds: bool = True) -> Recipe:
    """Read a recipe and check all of it (``check_builds=False``: the file only)."""
    recipe = read_recipe(path)
    if check_builds:
        check_recipe(recipe)
    return recipe


def check_recipe(recipe: Recipe) -> None:
    """Everything the recipe refers to, before anything runs (see the module docstring)."""
    from uer_ray.data import PROCESSORS
    from uer_ray.tokenizers import TOKENIZERS

    f = recipe.path
    v = recipe.vocabulary
    _named(lambda: TOKENIZERS.get(v.tokenizer), f"{f}: vocabulary.tokenizer")
    if v.file is not None and not Path(v.file).is_file():
        raise RecipeError(f"{f}: vocabulary.file: no such file: {v.file}")
    for c in recipe.corpora.values():
        _named(lambda c=c: PROCESSORS.get(c.processor), f"{f}: corpora.{c.name}.processor")
        for i, p in enumerate(c.files):
            if not Path(p).is_file():
                raise RecipeError(f"{f}: corpora.{c.name}.files[{i}]: no such file: {p}")
    vocab_size = _vocab_size(recipe)
    for run in recipe.runs:
        check_run(recipe, run, vocab_size)


def _named(get, where: str):
    try:
        return get()
    except UerRayError as e:
        raise RecipeError(f"{where}: {e}") from None


def _vocab_size(recipe: Recipe) -> int:
    v = recipe.vocabulary
    if v.file is None:
        return int(v.size)
    from uer_ray.tokenizers import build_tokenizer

    return _named(lambda: build_tokenizer(v.tokenizer, vocab=v.file).vocab_size,
                  f"{recipe.path}: vocabulary")


class _Shards:
    """What the build check tells the targets about shards that do not exist yet."""

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size
        self.tgt_vocab_size = None

    def labels_num(self) -> int:
        return 2


def model_config(recipe: Recipe, run: Run, vocab_size: int) -> dict:
    """The run's model config as the build check sees it (targets set, vocabulary sized)."""
    from uer_ray.targets import TARGETS

    spec = recipe.models[run.model]
    config = _named(lambda: preset(spec.model), f"{recipe.path}: models.{run.model}.model")
    if spec.targets:
        config["targets"] = dict(spec.targets)
    config["vocab_size"] = vocab_size
    shards = _Shards(vocab_size)
    for target in config.get("targets") or {}:
        config = _named(lambda t=target, c=config: TARGETS.get(t).from_shards(c, shards),
                        f"{recipe.path}: models.{run.model}.targets")
    return config


def check_run(recipe: Recipe, run: Run, vocab_size: int) -> None:
    """The run's model builds on the meta device, its targets suit its encoder, and its
    corpus's processor writes every column its targets read."""
    from uer_ray.data import PROCESSORS
    from uer_ray.models import build_model, on_meta
    from uer_ray.models.builder import check_names, check_targets_fit
    from uer_ray.targets import TARGETS

    where = f"{recipe.path}: models.{run.model}"
    config = model_config(recipe, run, vocab_size)
    try:
        check_names(config, f"models.{run.model}.model")
    except ConfigError as e:  # (names the key path)
        raise RecipeError(f"{recipe.path}: {e}") from None
    except UerRayError as e:
        raise RecipeError(f"{where}.model: {e}") from None
    try:
        with on_meta():
            build_model(config)
        check_targets_fit(config)
    except UerRayError as e:
        raise RecipeError(f"{where} (run {run.name}): {e}") from None
    corpus = recipe.corpora[run.corpus]
    has = PROCESSORS.get(corpus.processor).columns
    for target in config["targets"]:
        missing = [c for c in TARGETS.get(target).columns if c not in has]
        if missing:
            from uer_ray.train.inputs import writers_of

            raise RecipeError(f"{where} (run {run.name}): target {target!r} needs the {missing[0]!r} "
                              f"column, which corpus {corpus.name!r} (processor {corpus.processor!r}) "
                              f"does not give: use {writers_of(missing[0])} for that corpus")
