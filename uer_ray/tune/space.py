"""Search spaces: one YAML file per downstream dataset or study (``search_spaces/*.yaml``).

A space names the task and its files, where stage 1 comes from, the stage-2 pre-training on the
downstream text, and the searched axes with the conditions between them: each encoder has its
own learning-rate range and its own list of stage-2 target sets (``none``: no stage 2), a target
set gives each target a weight (fixed, a choice or a range), and stage-2 steps are sampled only
when stage 2 is on. ``docs/search.md`` documents every key. ``read_space`` reads a file, and
``uer_ray.tune.checks.load_space`` checks the whole of it before any trial starts — every key and
name (with "did you mean" and the YAML key path), every range, every file, and every reachable
encoder × target-set combination, built on PyTorch's meta device so that widths that do not
chain fail here.

``sample``/``grid``/``suggest`` propose ``TrialConfig``s (``uer_ray.tune.trial_config``: Tune and
W&B see their flat form).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

from uer_ray import yamlfile
from uer_ray.suggest import did_you_mean
from uer_ray.tune.domains import Domain, SpaceError, parse_domain
from uer_ray.tune.trial_config import NO_STAGE2, TrialConfig
from uer_ray.yamlfile import check_keys, read_mapping

SCRATCH = "scratch"

TOP_KEYS = ("name", "description", "task", "metric", "dataset", "data", "vocabulary", "stage1",
            "stage2", "encoders", "targets", "finetune", "budget")
DATA_KEYS = ("train", "dev", "test", "rows")
VOCAB_KEYS = ("tokenizer", "file", "size")
STAGE2_KEYS = ("corpus", "format", "seq_length", "steps", "batch_size", "lr", "workers", "rows",
               "keep_eval_text", "processor")
ENCODER_KEYS = ("model", "stage1", "lr", "targets")
BUDGET_KEYS = ("samples", "searcher", "scheduler", "max_concurrent", "seed", "minutes",
               "grace_period", "repeat", "publish_top")
# Fine-tuning options a space may fix or search (FinetuneOptions fields).
FINETUNE_KEYS = ("epochs", "batch_size", "grad_accum", "warmup", "weight_decay", "seq_length",
                 "patience", "pooling", "freeze", "crf", "beams", "tgt_seq_length")
NUMERIC = {"epochs": 1, "batch_size": 1, "grad_accum": 1, "seq_length": 1, "patience": 0,
           "warmup": 0, "weight_decay": 0, "beams": 1, "tgt_seq_length": 3}


@dataclass(frozen=True)
class EncoderChoice:
    name: str
    model: str | dict | None
    """a preset name, a JSON path or a config; None when ``stage1`` is a checkpoint (its
    config.json is the model)"""
    lr: Domain
    targets: tuple[str, ...]
    stage1: str = SCRATCH
    """where this encoder's weights start: ``scratch``, a checkpoint folder, ``zoo:NAME@TAG``
    (pinned to ``zoo:NAME@VERSION`` when the space is checked) or a URI"""
    stage1_key: str = "stage1"
    """the YAML key the value came from (``stage1``: the space's default)"""

    @property
    def from_checkpoint(self) -> bool:
        return self.stage1 != SCRATCH


@dataclass(frozen=True)
class Stage2:
    corpus: str
    format: str
    """``cls`` (label<TAB>text), ``unlabelled`` (label<TAB>text whose labels are dropped before
    sharding: a labelled file used as unlabelled text) or ``text`` (one document per line)"""
    seq_length: int
    steps: Domain
    batch_size: int = 32
    lr: float = 1e-3
    workers: int = 1
    rows: int | None = None
    keep_eval_text: bool = False
    """keep corpus lines whose text is a dev or test text (dropped by default: stage 2 must not
    read the texts the search scores on)"""
    processor: str | None = None
    """the processor that makes the stage-2 shards from documents (``text``/``unlabelled``):
    ``t5``, ``bart``, ``gsg`` for the denoising targets of the same names; None: ``cls`` for
    the ``cls`` format, else ``mlm`` (whose instances lm, mlm and their mixes share)"""


@dataclass(frozen=True)
class Budget:
    samples: int = 8
    searcher: str = "random"
    scheduler: str = "asha"
    max_concurrent: int | None = None
    seed: int = 0
    minutes: float | None = None
    grace_period: int = 1
    repeat: int = 0
    publish_top: int = 1


@dataclass(frozen=True)
class SearchSpace:
    """A checked search space; ``sample``/``grid``/``suggest`` propose trial configurations."""

    path: str
    name: str
    task: str
    dataset: str
    data: dict[str, str]
    rows: dict[str, int]
    vocabulary: dict
    stage1: str
    """the default of every encoder's ``stage1``"""
    stage2: Stage2 | None
    encoders: dict[str, EncoderChoice]
    target_sets: dict[str, dict[str, Domain]]
    finetune: dict[str, Domain]
    budget: Budget
    description: str = ""
    raw: dict = field(default_factory=dict, compare=False)
    metric: str | None = None
    """the dev metric the search optimises and every trial picks its best epoch by (None: the
    task's ``select_metric``; text2text: bleu, rouge_l or exact_match)"""

    @property
    def select_metric(self) -> str:
        from uer_ray.tasks import TASKS

        return self.metric or TASKS.get(self.task).select_metric

    # -- proposals --------------------------------------------------------------------------
    def sample(self, rng: random.Random, seed: int) -> TrialConfig:
        """One random configuration (conditions respected)."""
        enc = self.encoders[rng.choice(list(self.encoders))]
        chosen = rng.choice(list(enc.targets))
        lr = enc.lr.sample(rng)
        targets = {t: float(w.sample(rng)) for t, w in self.target_sets[chosen].items()}
        steps = int(self.stage2.steps.sample(rng)) if chosen != NO_STAGE2 else None
        finetune = {key: domain.sample(rng) for key, domain in self.finetune.items()}
        return TrialConfig(encoder=enc.name, stage2=chosen, targets=targets, stage2_steps=steps,
                           lr=lr, finetune=finetune, seed=seed)

    def grid(self, seed: int) -> list[TrialConfig]:
        """Every configuration of an all-choice space, in a fixed order."""
        out = []
        for enc in self.encoders.values():
            for chosen in enc.targets:
                steps = self.stage2.steps.grid() if chosen != NO_STAGE2 else [None]
                for lr, targets, step, finetune in product(
                        enc.lr.grid(), _grid(self.target_sets[chosen]), steps, _grid(self.finetune)):
                    out.append(TrialConfig(encoder=enc.name, stage2=chosen, targets=targets,
                                           stage2_steps=step, lr=lr, finetune=finetune, seed=seed))
        return out

    def suggest(self, trial: Any, seed: int) -> TrialConfig:
        """Optuna define-by-run: conditional parameters get per-branch names so that each name
        keeps one distribution (``lr|lstm``, ``stage2|lstm``, ``targets.cls|mlm+cls``)."""
        enc = self.encoders[trial.suggest_categorical("encoder", list(self.encoders))]
        chosen = trial.suggest_categorical(f"stage2|{enc.name}", list(enc.targets))
        lr = enc.lr.suggest(trial, f"lr|{enc.name}")
        targets = {t: float(w.suggest(trial, f"targets.{t}|{chosen}"))
                   for t, w in self.target_sets[chosen].items()}
        steps = int(self.stage2.steps.suggest(trial, "stage2_steps")) if chosen != NO_STAGE2 else None
        finetune = {key: domain.suggest(trial, key) for key, domain in self.finetune.items()}
        return TrialConfig(encoder=enc.name, stage2=chosen, targets=targets, stage2_steps=steps,
                           lr=lr, finetune=finetune, seed=seed)

    @property
    def from_checkpoints(self) -> bool:
        """Whether the encoders start from stage-1 checkpoints (then every one does)."""
        return any(e.from_checkpoint for e in self.encoders.values())

    def combinations(self) -> list[tuple[str, str]]:
        """Every reachable (encoder, target set) pair."""
        return [(e.name, t) for e in self.encoders.values() for t in e.targets]

    def size(self) -> int | None:
        """How many configurations a grid search runs (None when an axis is continuous)."""
        try:
            self._require_finite()
        except SpaceError:
            return None
        return len(self.grid(0))

    def _require_finite(self) -> None:
        for enc in self.encoders.values():
            if not enc.lr.finite:
                raise SpaceError(f"{self.path}: encoders.{enc.name}.lr is {enc.lr.describe()}: "
                                 "grid search needs fixed values or choices")
        used = {t for e in self.encoders.values() for t in e.targets}
        for name, weights in self.target_sets.items():
            for target, w in weights.items() if name in used else ():
                if not w.finite:
                    raise SpaceError(f"{self.path}: targets.{name}.{target} is {w.describe()}: "
                                     "grid search needs fixed values or choices")
        if self.stage2 is not None and not self.stage2.steps.finite:
            raise SpaceError(f"{self.path}: stage2.steps is continuous: grid search needs choices")
        for key, d in self.finetune.items():
            if not d.finite:
                raise SpaceError(f"{self.path}: finetune.{key} is {d.describe()}: grid search "
                                 "needs fixed values or choices")

    def require_grid(self) -> None:
        self._require_finite()


def _grid(domains: dict[str, Domain]) -> list[dict]:
    """Every combination of the named domains' values (one empty one for no domains)."""
    return [dict(zip(domains, values, strict=True))
            for values in product(*(d.grid() for d in domains.values()))]


# -- loading ---------------------------------------------------------------------------------
def read_space(path: str | Path) -> SearchSpace:
    """Read a search-space file, checking its keys, names, ranges and paths; what they refer to
    (the task, the files, the models) is checked by ``uer_ray.tune.checks.load_space``."""
    path = Path(path)
    raw, _ = read_mapping(path, SpaceError, "search-space", TOP_KEYS)
    return _build(path, raw)


def _keys(section: Any, allowed: tuple[str, ...], where: str, required: tuple[str, ...] = ()) -> dict:
    return check_keys(section, allowed, where, SpaceError, required)


def resolve_path(text: str, base: Path, where: str) -> str:
    """``${VAR}`` / ``${VAR:-default}`` expanded, then relative to the space file's folder."""
    return yamlfile.resolve_path(text, base, where, SpaceError)


def _build(path: Path, raw: dict) -> SearchSpace:
    f = str(path)
    _keys(raw, TOP_KEYS, f, required=("task", "data", "encoders"))
    base = path.parent
    data = _keys(raw["data"], DATA_KEYS, f"{f}: data", required=("train", "dev"))
    files = {k: resolve_path(v, base, f"{f}: data.{k}") for k, v in data.items() if k != "rows"}
    rows = {k: int(v) for k, v in (data.get("rows") or {}).items()}
    vocabulary = dict(_keys(raw.get("vocabulary") or {}, VOCAB_KEYS, f"{f}: vocabulary"))
    if "file" in vocabulary:
        vocabulary["file"] = resolve_path(vocabulary["file"], base, f"{f}: vocabulary.file")
    stage1 = _stage1(raw.get("stage1", SCRATCH), base, f"{f}: stage1")
    targets = _target_sets(raw.get("targets") or {}, f)
    encoders = _encoders(raw["encoders"], f, targets, base, stage1)
    used = {t for e in encoders.values() for t in e.targets if t != NO_STAGE2}
    stage2 = _stage2(raw.get("stage2"), f, base) if used else None
    if used and stage2 is None:
        raise SpaceError(f"{f}: encoders use stage-2 target sets ({', '.join(sorted(used))}) "
                         "but there is no stage2 section (corpus, seq_length, steps)")
    finetune = {}
    for key, value in _keys(raw.get("finetune") or {}, FINETUNE_KEYS, f"{f}: finetune").items():
        finetune[key] = parse_domain(value, f"{f}: finetune.{key}", numeric=key in NUMERIC,
                                     minimum=NUMERIC.get(key))
    budget = Budget(**_keys(raw.get("budget") or {}, BUDGET_KEYS, f"{f}: budget"))
    return SearchSpace(path=f, name=str(raw.get("name") or path.stem), task=str(raw["task"]),
                       dataset=str(raw.get("dataset") or Path(files["train"]).parent.name),
                       data=files, rows=rows, vocabulary=vocabulary, stage1=stage1, stage2=stage2,
                       encoders=encoders, target_sets=targets, finetune=finetune, budget=budget,
                       description=str(raw.get("description") or ""), raw=raw,
                       metric=str(raw["metric"]) if raw.get("metric") is not None else None)


def _target_sets(section: Any, f: str) -> dict[str, dict[str, Domain]]:
    if not isinstance(section, dict):
        raise SpaceError(f"{f}: targets: expected a mapping of target-set names")
    sets = {NO_STAGE2: {}}
    for name, weights in section.items():
        where = f"{f}: targets.{name}"
        if name == NO_STAGE2:
            if weights not in (None, {}):
                raise SpaceError(f"{where}: 'none' means no stage 2 and takes no targets")
            continue
        if not isinstance(weights, dict) or not weights:
            raise SpaceError(f"{where}: expected target: weight pairs, e.g. {{mlm: 1, cls: 0.5}}")
        sets[str(name)] = {str(t): parse_domain(w, f"{where}.{t}", numeric=True, minimum=0)
                           for t, w in weights.items()}
    return sets


def _stage1(value: Any, base: Path, where: str) -> str:
    text = str(value)
    return text if text == SCRATCH else resolve_path(text, base, where)


def _encoders(section: Any, f: str, sets: dict, base: Path, stage1: str) -> dict[str, EncoderChoice]:
    if not isinstance(section, dict) or not section:
        raise SpaceError(f"{f}: encoders: expected a mapping of encoder choices")
    out = {}
    for name, spec in section.items():
        where = f"{f}: encoders.{name}"
        spec = _keys(spec, ENCODER_KEYS, where, required=("lr",))
        key = f"encoders.{name}.stage1" if "stage1" in spec else "stage1"
        start = _stage1(spec["stage1"], base, f"{where}.stage1") if "stage1" in spec else stage1
        model = spec.get("model")
        if start != SCRATCH and model is not None:
            raise SpaceError(f"{where}.model: this encoder starts from its stage-1 checkpoint "
                             f"({key}: {start}), whose config.json is the model; drop model")
        if start == SCRATCH and model is None:
            raise SpaceError(f"{where}.model: required key is missing (a preset name, a JSON "
                             "path or a config; or give the encoder a stage1 checkpoint)")
        if isinstance(model, str) and (model.endswith(".json") or "/" in model):
            model = resolve_path(model, base, f"{where}.model")
        listed = spec.get("targets") or [NO_STAGE2]
        if not isinstance(listed, list):
            raise SpaceError(f"{where}.targets: expected a list of target-set names")
        for i, t in enumerate(listed):
            if t not in sets:
                raise SpaceError(f"{where}.targets[{i}]: no target set {t!r}{did_you_mean(t, sets)} "
                                 f"(the targets section has: {', '.join(sets)})")
        lr = parse_domain(spec["lr"], f"{where}.lr", numeric=True, minimum=0, above=True)
        out[str(name)] = EncoderChoice(str(name), model, lr, tuple(map(str, listed)), start, key)
    return out


def _stage2(section: Any, f: str, base: Path) -> Stage2 | None:
    if section is None:
        return None
    where = f"{f}: stage2"
    s = dict(_keys(section, STAGE2_KEYS, where, required=("corpus", "seq_length", "steps")))
    s["corpus"] = resolve_path(s["corpus"], base, f"{where}.corpus")
    s.setdefault("format", "cls")
    if s["format"] not in ("cls", "text", "unlabelled"):
        raise SpaceError(f"{where}.format: 'cls' (label<TAB>text lines), 'unlabelled' (the same "
                         "lines with their labels dropped before the shards are made) or 'text' "
                         f"(one document per line), got {s['format']!r}")
    s["steps"] = parse_domain(s["steps"], f"{where}.steps", numeric=True, minimum=1)
    if not isinstance(s.get("keep_eval_text", False), bool):
        raise SpaceError(f"{where}.keep_eval_text: true or false, got {s['keep_eval_text']!r}")
    if s.get("processor") is not None:
        from uer_ray.data import PROCESSORS

        name = str(s["processor"])
        if name not in PROCESSORS.names():
            raise SpaceError(f"{where}.processor: unknown processor {name!r}"
                             f"{did_you_mean(name, PROCESSORS.names())} (processors: "
                             f"{', '.join(PROCESSORS.names())})")
        if PROCESSORS.get(name).line_format != "one document":
            raise SpaceError(f"{where}.processor: {name!r} reads {PROCESSORS.get(name).line_format} "
                             "lines; stage 2 gives it one document per line (format text or "
                             "unlabelled): use t5, mlm, lm or another one-document processor")
        if s["format"] == "cls":
            raise SpaceError(f"{where}.processor: {name!r} reads plain documents: give "
                             "format: text (one document per line) or unlabelled (label<TAB>text "
                             "with the labels dropped)")
        s["processor"] = name
    return Stage2(**s)
