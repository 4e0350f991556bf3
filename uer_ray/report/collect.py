"""What a report draws, read from what the commands wrote: a search folder (also one still
running), pre-training and fine-tuning output folders, or the zoo. Only files are read — the
result records, ``metrics.jsonl``, Ray Tune's trial folders and its experiment state (JSON) — so
a report works on a copy of the folders, offline, while the search goes on.
"""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uer_ray.errors import InputError, UerRayError
from uer_ray.tune.trial_config import DEFAULT_EPOCHS, TrialConfig


@dataclass
class Trial:
    """One search trial as far as it got."""

    trial_id: str
    config: dict
    """the flat configuration as Tune wrote it (the tables' and W&B's columns; {} when missing)"""
    status: str  # running | pending | finished | stopped | failed
    history: list[dict] = field(default_factory=list)  # {"epoch", "dev", ...} per epoch
    seconds: float = 0.0
    error: str | None = None
    folder: Path | None = None  # the fine-tuned model, when the trial finished

    @property
    def best_dev(self) -> float | None:
        return max((h["dev"] for h in self.history), default=None)

    @property
    def best_epoch(self) -> int | None:
        if not self.history:
            return None
        return max(self.history, key=lambda h: h["dev"])["epoch"]

    @property
    def typed(self) -> TrialConfig | None:
        """The configuration's fields (None when Tune has not written it yet)."""
        return TrialConfig.from_flat(self.config) if self.config else None

    @property
    def group(self) -> str:
        """encoder / stage-2 target set (what the bars compare)."""
        t = self.typed
        return f"{t.encoder} / {t.stage2}" if t is not None else "? / none"

    @property
    def label(self) -> str:
        t = self.typed
        if t is None:
            return f"{self.group} lr=0"
        weights = ",".join(f"{k}={v:.2g}" for k, v in t.targets.items())
        seed = f" seed={t.seed}" if t.seed else ""
        return f"{self.group}{' (' + weights + ')' if weights else ''} lr={t.lr:.2g}{seed}"


@dataclass
class PretrainRun:
    """A pre-training run: its log lines and its record (None while it runs)."""

    name: str
    folder: Path
    lines: list[dict]
    record: dict | None
    torn: bool = False  # the last line of metrics.jsonl was cut (a crash mid-write)


@dataclass
class Collected:
    """Everything one report shows; ``notes`` says what is missing or partial."""

    title: str
    task: str | None = None
    metric: str = "accuracy"
    trials: list[Trial] = field(default_factory=list)
    planned: int | None = None
    pretrain: list[PretrainRun] = field(default_factory=list)
    finetune: list[dict] = field(default_factory=list)  # result records
    zoo: list[dict] = field(default_factory=list)  # zoo entry records
    repeats: list[dict] = field(default_factory=list)
    repeat_trials: list[Trial] = field(default_factory=list)  # the top configurations' other seeds
    record: dict | None = None  # a finished search's record
    test_file: str | None = None
    notes: list[str] = field(default_factory=list)
    source: str = ""


def read_lines(path: Path) -> tuple[list[dict], bool]:
    """(records, torn): a ``metrics.jsonl``-style file; a cut last line is dropped and said."""
    if not path.exists():
        return [], False
    out, torn = [], False
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            torn = i == len(lines) - 1
            if not torn:
                raise InputError("a line in the middle is not JSON", str(path), i + 1) from None
    return out, torn


# -- a search ---------------------------------------------------------------------------------
def is_search(folder: Path) -> bool:
    return (folder / "search.json").is_file()


def search(folder: Path) -> Collected:
    state = json.loads((folder / "search.json").read_text(encoding="utf-8"))
    space_name = state.get("name") or Path(state.get("space", "search")).stem
    c = Collected(title=f"search {space_name}", source=str(folder), planned=state.get("planned"))
    record_path = folder / "metrics.json"
    if record_path.exists():
        from uer_ray.records import read_record

        c.record = read_record(record_path)
        c.metric = c.record["results"]["metric"]
        c.repeats = c.record["results"].get("repeats") or []
    c.task, c.test_file = state.get("task"), (state.get("files") or {}).get("test")
    if c.record is not None:
        c.task = c.task or c.record["data"]["search"]["task"]
        files = c.record["data"]["search"]["files"]
        c.test_file = c.test_file or (files.get("test") or {}).get("path")
    c.metric = state.get("metric", c.metric)
    if c.test_file and not Path(c.test_file).exists():  # a search copied from its store
        copied = [folder / "data" / Path(c.test_file).name]
        recorded = ((c.record or {}).get("data", {}).get("search", {}).get("files", {}).get("test") or {}).get("path")
        if recorded:
            copied.insert(0, folder / "data" / Path(recorded).name)
        c.test_file = next((str(p) for p in copied if p.exists()), c.test_file)
    c.trials = _trials(folder / "tune", folder / "trials")
    c.repeat_trials = _trials(folder / "repeat", folder / "trials")
    if not c.trials:
        c.notes.append("no trial has started yet")
    running = sum(t.status in ("running", "pending") for t in c.trials)
    if c.record is None:
        c.notes.append(f"the search is still running (or was interrupted): {running} trial(s) "
                       "running or pending; this report shows what has been written so far")
    for run_dir in sorted((folder / "stage2").glob("*/")):
        c.pretrain.append(pretrain_run(run_dir, name=_stage2_name(run_dir)))
    return c


def _stage2_name(run_dir: Path) -> str:
    """``stage2/<encoder>/<targets>`` from the run's options (the key alone says nothing)."""
    try:
        options = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))["options"]
        return "/".join(options["wandb_name"].split("/")[:3])
    except (OSError, KeyError, TypeError, AttributeError, json.JSONDecodeError):
        return f"stage2/{run_dir.name}"


def _trials(tune_dir: Path, trials_dir: Path) -> list[Trial]:
    statuses = _statuses(tune_dir)
    out = []
    for d in sorted(tune_dir.glob("trial_*")):
        trial_id = d.name.removeprefix("trial_")
        params = d / "params.json"
        config = json.loads(params.read_text(encoding="utf-8")).get("trial", {}) if params.exists() else {}
        results, _ = read_lines(d / "result.json")
        history = [{"epoch": int(r["epoch"]), "dev": float(r["dev"]),
                    **{k: v for k, v in r.items() if k.startswith("dev/")}}
                   for r in results if "dev" in r and "epoch" in r]
        history = list({h["epoch"]: h for h in history}.values())  # a retried epoch counts once
        seconds = float(results[-1].get("time_total_s", 0.0)) if results else 0.0
        error = (d / "error.txt").read_text(encoding="utf-8").strip().splitlines()[-1] \
            if (d / "error.txt").exists() else None
        state = statuses.get(trial_id, "TERMINATED" if results else "PENDING")
        wanted = TrialConfig.from_flat(config).epochs if config else DEFAULT_EPOCHS
        if error and state in ("ERROR", "TERMINATED"):
            status = "failed"
        elif state in ("RUNNING", "PENDING", "PAUSED"):
            status = state.lower() if state != "PAUSED" else "pending"
        else:
            status = "finished" if len(history) >= wanted else "stopped"
        model = trials_dir / trial_id / "finetune"
        out.append(Trial(trial_id, config, status, sorted(history, key=lambda h: h["epoch"]),
                         seconds, error, model if (model / "metrics.json").exists() else None))
    return out


def _statuses(tune_dir: Path) -> dict[str, str]:
    """trial id -> Tune status, from the newest experiment state (plain JSON)."""
    files = sorted(glob.glob(str(tune_dir / "experiment_state-*.json")))
    if not files:
        return {}
    try:
        data = json.loads(Path(files[-1]).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, OSError):
        return {}  # being rewritten: the trial folders still tell most of it
    out = {}
    for item in data.get("trial_data", []):
        try:
            trial = json.loads(item[0])
        except (TypeError, json.JSONDecodeError):
            continue
        out[trial.get("trial_id", "")] = trial.get("status", "")
    return out


# -- run folders and the zoo ------------------------------------------------------------------
def pretrain_run(folder: Path, name: str | None = None) -> PretrainRun:
    lines, torn = read_lines(folder / "metrics.jsonl")
    record = None
    if (folder / "metrics.json").exists():
        from uer_ray.records import read_record

        try:
            record = read_record(folder / "metrics.json")
        except UerRayError:
            record = None
    return PretrainRun(name or (record or {}).get("name") or folder.name, folder, lines, record, torn)


def runs(folders: list[Path]) -> Collected:
    """Pre-training and fine-tuning output folders given by path."""
    from uer_ray.records import read_record

    c = Collected(title="runs", source=", ".join(map(str, folders)))
    for f in folders:
        if not f.is_dir():
            raise InputError("no such folder", str(f))
        if is_search(f):
            raise InputError("this is a search folder: report it on its own", str(f))
        record = None
        if (f / "metrics.json").exists():
            record = read_record(f / "metrics.json")
        if (f / "run.json").exists() or (record or {}).get("stage") == "pretrain":
            run = pretrain_run(f)
            c.pretrain.append(run)
            if run.torn:
                c.notes.append(f"{f / 'metrics.jsonl'}: the last line was cut (a crash while "
                               "writing it); it is left out")
            if run.record is None:
                c.notes.append(f"{f}: no result record yet (still running, or stopped)")
        elif record is not None and record["stage"] == "finetune":
            c.finetune.append(record)
            c.task, c.metric = record["results"]["task"], record["results"]["select_metric"]
        else:
            raise InputError("holds no run: no result record (metrics.json) and no run.json; "
                             "give pretrain or finetune output folders, or a search folder",
                             str(f))
    return c


def zoo(uri: str | None, filters: dict[str, Any]) -> Collected:
    """The zoo's newest versions, filtered as ``zoo list`` filters them."""
    from uer_ray.zoo import Zoo
    from uer_ray.zoo.report import Filters, select

    store = Zoo(uri)
    every = store.entries()  # (read once: on S3 each read is a listing and a GET per version)
    given = {k: v for k, v in filters.items() if v is not None}
    newest = list({e["name"]: e for e in every}.values())  # versions come oldest first
    entries = [e for e, _ in select(newest, every, Filters(**given))]
    c = Collected(title=f"zoo {store.uri}", source=store.uri, zoo=entries)
    if not entries:
        c.notes.append(_no_match(every, given))
    return c


def _no_match(entries: list[dict], filters: dict[str, Any]) -> str:
    """Which filter found nothing, with the values the zoo has and a "did you mean"."""
    from uer_ray.suggest import did_you_mean

    if not entries:
        return "the zoo is empty"
    known = {"dataset": {r["dataset"] for e in entries for r in e.get("results", [])},
             "task": {r["task"] for e in entries for r in e.get("results", [])},
             "kind": {e.get("kind") for e in entries},
             "encoder": {x for e in entries for x in e.get("model", {}).get("encoder", [])},
             "target": {t for e in entries for t in e.get("model", {}).get("targets", {})}}
    said = [f"no zoo entry matches {', '.join(f'{k} {v!r}' for k, v in filters.items())}"]
    for key, value in filters.items():
        have = sorted(str(x) for x in known.get(key, ()) if x)
        if have and str(value) not in have:
            hint = did_you_mean(value, have, cutoff=0.5, brackets=True)
            said.append(f"{key}s in the zoo: {', '.join(have)}{hint}")
    return "; ".join(said)
