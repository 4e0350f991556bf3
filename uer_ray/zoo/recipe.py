"""Zoo recipes (``recipes/*.yaml``): the UER paper's model zoo as a file — a grid of corpus ×
model (encoder + targets) pre-trained by ``python run.py zoo build`` and published as zoo
entries (``uer_ray.zoo.build``). ``docs/zoo.md`` documents every key::

    name: clue_small
    vocabulary: {tokenizer: char, file: ../uer_ray/samples/clue/zh_char_vocab.txt}
    corpora:
      clue: {files: [../uer_ray/samples/clue/CLUECorpusSmall_sampled.txt], processor: mlm, seq_length: 128}
    defaults: {batch_size: 32, lr: 1.0e-3, warmup: 0.05}
    models:
      lstm: {model: {embedding: [word], encoder: lstm, ...}, targets: {lm: 1}, steps: 600}
      bert-tiny: {model: bert-tiny, targets: {mlm: 1}, lr: 5.0e-4}
    grid: {corpora: [clue], models: [lstm, bert-tiny]}    # and/or an explicit list:
    runs: [{corpus: clue, model: lstm, name: clue+lstm+lm, aliases: [small]}]
    aliases: [clue-small]                                 # on every entry

``read_recipe`` reads a file and checks its keys, names and values;
``uer_ray.zoo.recipe_checks.load_recipe`` also checks what they refer to before anything runs.
Each failure is one line naming the file and the YAML key path.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

from uer_ray.errors import UerRayError
from uer_ray.suggest import did_you_mean
from uer_ray.yamlfile import check_keys, read_mapping, resolve_path

TOP_KEYS = ("name", "description", "vocabulary", "corpora", "defaults", "models", "grid", "runs",
            "aliases")
VOCAB_KEYS = ("tokenizer", "file", "size")
CORPUS_KEYS = ("files", "processor", "seq_length")
# the PretrainOptions a recipe sets, per model or in ``defaults``
TRAIN_KEYS = ("steps", "batch_size", "grad_accum", "lr", "weight_decay", "warmup", "schedule",
              "clip", "seed", "workers", "masking", "mask_prob", "save_every", "log_every")
MODEL_KEYS = ("model", "targets", *TRAIN_KEYS)
GRID_KEYS = ("corpora", "models")
RUN_KEYS = ("corpus", "model", "name", "aliases")


class RecipeError(UerRayError):
    """A recipe that cannot run: the message names the file and the YAML key path."""


@dataclass(frozen=True)
class Vocabulary:
    tokenizer: str
    file: str | None = None
    """a vocabulary file; else one of ``size`` entries is built from the recipe's corpora"""
    size: int | None = None


@dataclass(frozen=True)
class Corpus:
    name: str
    files: tuple[str, ...]
    processor: str
    seq_length: int


@dataclass(frozen=True)
class ModelSpec:
    name: str
    model: str | dict
    """a preset name, a JSON path or a config"""
    targets: dict[str, float] | None
    """None: the preset's"""
    training: dict[str, Any]
    """PretrainOptions values (``defaults`` with this model's own on top)"""


@dataclass(frozen=True)
class Run:
    name: str
    """the zoo entry name"""
    corpus: str
    model: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recipe:
    path: str
    name: str
    sha256: str
    vocabulary: Vocabulary
    corpora: dict[str, Corpus]
    models: dict[str, ModelSpec]
    runs: tuple[Run, ...]
    description: str = ""
    raw: dict = field(default_factory=dict, compare=False)

    def run(self, name: str) -> Run:
        return next(r for r in self.runs if r.name == name)

    def select(self, names: list[str] | tuple[str, ...] | None) -> tuple[Run, ...]:
        """The runs ``names`` (``--only``; all when empty); an unknown one is an error."""
        if not names:
            return self.runs
        known = [r.name for r in self.runs]
        for n in names:
            if n not in known:
                raise RecipeError(f"{self.path}: no run named {n!r}{did_you_mean(n, known, cutoff=0.5)} "
                                  f"(runs: {', '.join(known)})")
        return tuple(r for r in self.runs if r.name in names)

    def target_names(self, run: Run) -> list[str]:
        spec = self.models[run.model]
        return list(spec.targets or preset(spec.model).get("targets") or {})


# -- reading -----------------------------------------------------------------------------------
def read_recipe(path: str | Path) -> Recipe:
    path = Path(path)
    raw, data = read_mapping(path, RecipeError, "recipe", TOP_KEYS)
    return _build(path, raw, hashlib.sha256(data).hexdigest())


def _keys(section: Any, allowed: tuple[str, ...], where: str, required: tuple[str, ...] = ()) -> dict:
    return check_keys(section, allowed, where, RecipeError, required)


def _path(text: Any, base: Path, where: str) -> str:
    return resolve_path(str(text), base, where, RecipeError)


def _names(value: Any, known: dict, where: str, what: str) -> list[str]:
    """A list of names of the ``known`` section (a single name is a list of one)."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names:
        raise RecipeError(f"{where}: expected a list of {what} names")
    for i, n in enumerate(names):
        if n not in known:
            raise RecipeError(f"{where}[{i}]: no {what} {n!r}{did_you_mean(n, known, cutoff=0.5)} "
                              f"(the {what} section has: {', '.join(known)})")
    return [str(n) for n in names]


def _build(path: Path, raw: dict, sha: str) -> Recipe:
    f = str(path)
    _keys(raw, TOP_KEYS, f, required=("vocabulary", "corpora", "models"))
    base = path.parent
    vocabulary = _vocabulary(raw["vocabulary"], f"{f}: vocabulary", base)
    corpora = _corpora(raw["corpora"], f"{f}: corpora", base)
    defaults = _training(raw.get("defaults") or {}, f"{f}: defaults")
    models = _models(raw["models"], f"{f}: models", base, defaults)
    shared = _aliases(raw.get("aliases"), f"{f}: aliases")
    runs = []
    if "grid" in raw:
        grid = _keys(raw["grid"], GRID_KEYS, f"{f}: grid", required=GRID_KEYS)
        for c, m in product(_names(grid["corpora"], corpora, f"{f}: grid.corpora", "corpus"),
                            _names(grid["models"], models, f"{f}: grid.models", "model")):
            runs.append(Run(default_name(c, m, models[m], f), c, m, shared))
    for i, spec in enumerate(raw.get("runs") or []):
        where = f"{f}: runs[{i}]"
        spec = _keys(spec, RUN_KEYS, where, required=("corpus", "model"))
        c = _names(spec["corpus"], corpora, f"{where}.corpus", "corpus")[0]
        m = _names(spec["model"], models, f"{where}.model", "model")[0]
        name = _entry_name(spec["name"], f"{where}.name") if "name" in spec else \
            default_name(c, m, models[m], f)
        own = _aliases(spec.get("aliases"), f"{where}.aliases")
        runs.append(Run(name, c, m, tuple(dict.fromkeys(shared + own))))
    if not runs:
        raise RecipeError(f"{f}: say what to build: a grid (corpora × models) or a runs list")
    seen: dict[str, Run] = {}
    for run in runs:
        if run.name in seen:
            raise RecipeError(f"{f}: two runs publish as {run.name!r} ({seen[run.name].corpus} × "
                              f"{seen[run.name].model} and {run.corpus} × {run.model}): name one "
                              "of them in the runs list")
        seen[run.name] = run
    return Recipe(path=f, name=str(raw.get("name") or path.stem), sha256=sha, vocabulary=vocabulary,
                  corpora=corpora, models=models, runs=tuple(runs),
                  description=str(raw.get("description") or ""), raw=raw)


def _vocabulary(section: Any, where: str, base: Path) -> Vocabulary:
    v = _keys(section, VOCAB_KEYS, where, required=("tokenizer",))
    if ("file" in v) == ("size" in v):
        raise RecipeError(f"{where}: give a file (a vocabulary to use) or a size (one built from "
                          "the corpora), not both or neither")
    if "size" in v and (isinstance(v["size"], bool) or not isinstance(v["size"], int) or v["size"] < 10):
        raise RecipeError(f"{where}.size: expected an integer of at least 10, got {v['size']!r}")
    file = _path(v["file"], base, f"{where}.file") if "file" in v else None
    return Vocabulary(str(v["tokenizer"]), file, v.get("size"))


def _corpora(section: Any, where: str, base: Path) -> dict[str, Corpus]:
    if not isinstance(section, dict) or not section:
        raise RecipeError(f"{where}: expected a mapping of corpus names")
    out = {}
    for name, spec in section.items():
        w = f"{where}.{name}"
        spec = _keys(spec, CORPUS_KEYS, w, required=CORPUS_KEYS)
        files = [spec["files"]] if isinstance(spec["files"], str) else spec["files"]
        if not isinstance(files, list) or not files:
            raise RecipeError(f"{w}.files: expected a file or a list of files")
        seq = spec["seq_length"]
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 8:
            raise RecipeError(f"{w}.seq_length: expected an integer of at least 8, got {seq!r}")
        out[str(name)] = Corpus(str(name), tuple(_path(p, base, f"{w}.files[{i}]") for i, p in enumerate(files)),
                                str(spec["processor"]), seq)
    return out


def _training(section: Any, where: str) -> dict[str, Any]:
    """Training keys, checked as PretrainOptions values (types, ranges, choices)."""
    from uer_ray.config import ConfigError
    from uer_ray.train.pretrain import CHOICES, PretrainOptions

    values = {k: section[k] for k in _keys(section, TRAIN_KEYS, where)}
    try:
        o = PretrainOptions.from_dict({"out": ".", **values}, where)
    except ConfigError as e:
        raise RecipeError(str(e)) from None
    for key in ("steps", "batch_size", "grad_accum", "save_every", "log_every"):
        if key in values and getattr(o, key) < 1:
            raise RecipeError(f"{where}.{key}: must be at least 1, got {values[key]!r}")
    if "workers" in values and (not isinstance(o.workers, int) or o.workers < 1):
        raise RecipeError(f"{where}.workers: expected a number of at least 1, got {values['workers']!r}")
    if "lr" in values and o.lr <= 0:
        raise RecipeError(f"{where}.lr: must be above 0, got {values['lr']!r}")
    for key in ("warmup", "clip", "weight_decay", "mask_prob"):
        if key in values and getattr(o, key) < 0:
            raise RecipeError(f"{where}.{key}: must be at least 0, got {values[key]!r}")
    for key, allowed in CHOICES.items():
        if key in values and values[key] not in allowed:
            raise RecipeError(f"{where}.{key}: {values[key]!r} is not one of {', '.join(allowed)}"
                              f"{did_you_mean(values[key], allowed)}")
    return {k: getattr(o, k) for k in values}


def _models(section: Any, where: str, base: Path, defaults: dict) -> dict[str, ModelSpec]:
    if not isinstance(section, dict) or not section:
        raise RecipeError(f"{where}: expected a mapping of model names")
    out = {}
    for name, spec in section.items():
        w = f"{where}.{name}"
        spec = _keys(spec, MODEL_KEYS, w, required=("model",))
        model = spec["model"]
        if isinstance(model, str) and (model.endswith(".json") or "/" in model):
            model = _path(model, base, f"{w}.model")
        elif not isinstance(model, (str, dict)):
            raise RecipeError(f"{w}.model: a preset name, a JSON path or a config mapping")
        targets = spec.get("targets")
        if targets is not None:
            if not isinstance(targets, dict) or not targets:
                raise RecipeError(f"{w}.targets: expected target: weight pairs, e.g. {{mlm: 1}}")
            for t, weight in targets.items():
                if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
                    raise RecipeError(f"{w}.targets.{t}: expected a weight of at least 0, got {weight!r}")
            targets = {str(t): float(x) for t, x in targets.items()}
        training = {**defaults, **_training({k: v for k, v in spec.items() if k in TRAIN_KEYS}, w)}
        out[str(name)] = ModelSpec(str(name), model, targets, training)
    return out


def _aliases(value: Any, where: str) -> tuple[str, ...]:
    from uer_ray.zoo.refs import LATEST, ZooError, check_alias

    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise RecipeError(f"{where}: expected a list of aliases")
    for i, a in enumerate(items):
        try:
            check_alias(str(a))
        except ZooError as e:
            raise RecipeError(f"{where}[{i}]: {e}") from None
        if a == LATEST:
            raise RecipeError(f"{where}[{i}]: 'latest' always names the newest version; choose another alias")
    return tuple(map(str, items))


def _entry_name(value: Any, where: str) -> str:
    from uer_ray.zoo.refs import ZooError, check_name

    try:
        return check_name(str(value))
    except ZooError as e:
        raise RecipeError(f"{where}: {e}") from None


def default_name(corpus: str, model: str, spec: ModelSpec, file: str) -> str:
    """UER-py style: corpus + model + targets (``clue+bert-tiny+mlm``)."""
    from uer_ray.zoo.refs import slug

    try:
        targets = spec.targets or preset(spec.model).get("targets") or {}
    except UerRayError as e:
        raise RecipeError(f"{file}: models.{model}.model: {e}") from None
    return _entry_name(f"{slug(corpus)}+{slug(model)}+{slug('-'.join(targets))}",
                       f"{file}: the entry name of {corpus} × {model} (name it in the runs list)")


def preset(model: str | dict) -> dict:
    """The config dict of a preset name, a JSON path or an inline config (a copy)."""
    from uer_ray.models import load_preset

    return load_preset(model)


def run_identity(recipe: Recipe, run: Run, inputs: dict[str, Any]) -> str:
    """What makes two builds of a run the same: the model, targets and training options, the
    corpus (processor, sequence length, files' sha256) and the vocabulary (``inputs``: sha256 of
    the files, from the build). A zoo entry recorded with the same identity is not built again."""
    spec = recipe.models[run.model]
    corpus = recipe.corpora[run.corpus]
    parts = {"run": run.name, "model": preset(spec.model), "targets": spec.targets,
             "training": spec.training, "processor": corpus.processor,
             "seq_length": corpus.seq_length, "inputs": inputs}
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
