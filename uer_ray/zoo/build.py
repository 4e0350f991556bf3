"""``build(BuildOptions)``: a recipe (``uer_ray.zoo.recipe``) -> one pre-training run per grid
cell, each a Ray Train job, published to the zoo with its card and lineage
(``python run.py zoo build recipes/X.yaml``).

Output folder (``--out``, default ``runs/recipes/<recipe name>``)::

    vocab/                    the vocabulary built from the corpora (when the recipe builds one)
    shards/<corpus>/          each corpus as shards, made once for every run that reads it
    runs/<entry name>/        each run's pretrain --out folder (final/, metrics.json, ray/, ...)
    metrics.json              the build's result record (stage ``recipe``): every run's entry,
                              status, steps, first/last loss and seconds

A build is idempotent: a run whose entry is in the zoo with the same identity (the run's model,
targets, training options, corpus and vocabulary: ``recipe.run_identity``, recorded in the
entry's provenance as ``recipe_run_key``) is skipped. A stopped build continues where it was:
each run folder is resumed from its last checkpoint (``pretrain --resume``). ``force`` trains
and publishes every selected run again. Runs are Ray tasks, each starting its own Ray Train
job: as many at a time as the cluster has room for (one per two logical CPUs, like a search's
trials), each with an equal share of the CPUs beside one kept free for Ray Data's reads.
On several nodes ``--out`` must be a folder every node sees; the zoo may be any store.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uer_ray.config import Options
from uer_ray.zoo.recipe import Recipe, Run, run_identity
from uer_ray.zoo.recipe_checks import load_recipe

# what a run's Ray task reserves itself: its training workers reserve the run's CPU share
TASK_CPUS = 0.01
PROGRESS_S = 30.0


@dataclass(frozen=True, kw_only=True)
class BuildOptions(Options):
    """Everything ``python run.py zoo build`` accepts."""

    recipe: str
    zoo: str | None = None
    out: str | None = None
    """run folders, shards and the build record (default runs/recipes/<recipe name>)"""
    force: bool = False
    """train and publish the selected runs again, even when the zoo has them"""
    only: list[str] = field(default_factory=list)
    """entry names of the runs to build (default: every run)"""
    max_concurrent: int | None = None
    address: str | None = None
    wandb_mode: str | None = None
    wandb_project: str = "uer_ray"
    progress: bool = True


@dataclass(frozen=True)
class RunTask:
    """One run as its Ray task receives it."""

    run: Run
    options: Any  # PretrainOptions
    resume: bool
    zoo: str
    provenance: dict[str, str]
    plugins: tuple = ()


def build(o: BuildOptions) -> dict:
    """Build (or continue) the recipe's runs; returns the build's result record."""
    from uer_ray.atomic import write_json
    from uer_ray.zoo.store import Zoo

    recipe = load_recipe(o.recipe)
    runs = recipe.select(o.only)
    out = Path(o.out or Path("runs") / "recipes" / recipe.name).absolute()
    store = Zoo(o.zoo)
    started = time.time()
    say = print if o.progress else (lambda *a, **k: None)
    say(f"Recipe {recipe.name} ({recipe.path}): {len(runs)} run(s) into {store.uri}; work folder {out}",
        flush=True)
    out.mkdir(parents=True, exist_ok=True)
    vocab, tokenizer = _vocabulary(recipe, out)
    inputs = _inputs(recipe, tokenizer)
    rows, todo = [], []
    for run in runs:
        key = run_identity(recipe, run, inputs[run.corpus])
        found = None if o.force else _published(store, run.name, key)
        if found is not None:
            rows.append(_skipped_row(run, found))
            say(f"  {run.name}: in the zoo as {found['name']}@{found['version']} (same recipe run, "
                "same inputs): skipped", flush=True)
        else:
            todo.append((run, key))
    shards = {c: _shards(recipe, c, tokenizer, out, o)
              for c in dict.fromkeys(run.corpus for run, _ in todo)}
    if todo:
        rows += _schedule(recipe, todo, shards, out, store.uri, o, say)
    rows.sort(key=lambda r: [x.name for x in runs].index(r["run"]))
    record = _record(recipe, o, rows, store.uri, inputs, vocab, time.time() - started, out)
    write_json(out / "metrics.json", record)
    if o.progress:
        print("\n" + summary_table(rows) + "\n\n" + summary_text(record), flush=True)
    return record


# -- inputs ------------------------------------------------------------------------------------
def _vocabulary(recipe: Recipe, out: Path):
    """(vocabulary file, tokenizer): the recipe's file, or one built from its corpora (once:
    its name carries the corpora's identity)."""
    from uer_ray.records import sha256_file
    from uer_ray.tokenizers import TOKENIZERS, build_tokenizer, build_vocab

    v = recipe.vocabulary
    option = TOKENIZERS.get(v.tokenizer).file_option
    if v.file is not None:
        return v.file, build_tokenizer(v.tokenizer, **{option: v.file})
    files = list(dict.fromkeys(p for c in recipe.corpora.values() for p in c.files))
    digest = _short([sha256_file(p) for p in files])
    target = out / "vocab" / f"{v.tokenizer}-{v.size}-{digest}{'.model' if option == 'spm_model' else '.txt'}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        build_vocab(files, v.tokenizer, int(v.size), target)
    return str(target), build_tokenizer(v.tokenizer, **{option: str(target)})


def _short(parts) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:8]


def _inputs(recipe: Recipe, tokenizer) -> dict[str, dict]:
    """Per corpus: the identity of what its runs read (vocabulary and corpus files' sha256)."""
    from uer_ray.records import sha256_file

    vocab = tokenizer.describe()
    return {name: {"vocabulary": {k: vocab.get(k) for k in ("kind", "sha256", "size", "lowercase")},
                   "files": [{"name": Path(p).name, "sha256": sha256_file(p)} for p in c.files]}
            for name, c in recipe.corpora.items()}


def _shards(recipe: Recipe, name: str, tokenizer, out: Path, o: BuildOptions) -> str:
    """The corpus as shards in ``out/shards/<name>``: made once, and again when the corpus,
    processor, sequence length or vocabulary changed."""
    from uer_ray.data import ProcessorConfig, preprocess
    from uer_ray.records import sha256_file

    corpus = recipe.corpora[name]
    folder = out / "shards" / name
    manifest = folder / "manifest.json"
    if manifest.exists():
        m = json.loads(manifest.read_text(encoding="utf-8"))
        same = (m.get("processor") == corpus.processor and m.get("seq_length") == corpus.seq_length
                and (m.get("tokenizer") or {}).get("sha256") == tokenizer.sha256
                and [c.get("sha256") for c in m.get("corpus", [])] == [sha256_file(p) for p in corpus.files])
        if same:
            return str(folder)
        shutil.rmtree(folder)
    preprocess(list(corpus.files), folder, processor=corpus.processor, tokenizer=tokenizer,
               config=ProcessorConfig(seq_length=corpus.seq_length), progress=o.progress,
               address=o.address)
    return str(folder)


def _published(store, name: str, key: str) -> dict | None:
    """The newest version of ``name`` built from the same recipe run with the same inputs."""
    for version in reversed(store.versions(name)):
        entry = store.record(name, version)
        if (entry.get("provenance") or {}).get("recipe_run_key") == key:
            return entry
    return None


# -- running -----------------------------------------------------------------------------------
def _task(recipe: Recipe, run: Run, key: str, shards: str, out: Path, zoo: str, cpus: float,
          o: BuildOptions) -> RunTask:
    """The run's options; ``resume`` when its folder holds this very run, stopped or finished
    but not published (a folder of another identity, or ``force``, starts over)."""
    from uer_ray.atomic import write_json
    from uer_ray.plugins import loaded
    from uer_ray.train.pretrain import PretrainOptions

    spec = recipe.models[run.model]
    folder = out / "runs" / run.name
    marker = folder / "recipe_run.json"
    same = marker.exists() and json.loads(marker.read_text(encoding="utf-8")).get("key") == key
    resume = same and not o.force and (folder / "run.json").exists()
    folder.mkdir(parents=True, exist_ok=True)
    write_json(marker, {"recipe": recipe.name, "run": run.name, "key": key})
    training = dict(spec.training)
    workers = int(training.setdefault("workers", 1))
    training.setdefault("save_every", max(50, int(training.get("steps", 1000)) // 4))
    options = PretrainOptions(
        model=spec.model, targets=spec.targets, data=shards, out=str(folder), **training,
        cpus_per_worker=cpus / workers, resume=resume, overwrite=not resume, progress=False,
        wandb_mode=o.wandb_mode, wandb_project=o.wandb_project, wandb_group=f"recipe-{recipe.name}",
        wandb_name=run.name, wandb_tags=[f"recipe:{recipe.name}", f"corpus:{run.corpus}"])
    corpus = recipe.corpora[run.corpus]
    provenance = {"recipe": recipe.name, "recipe_file": o.recipe, "recipe_sha256": recipe.sha256,
                  "recipe_run": run.name, "recipe_run_key": key, "corpus": run.corpus,
                  "corpus_files": ", ".join(Path(p).name for p in corpus.files)}
    return RunTask(run, options, resume, zoo, provenance, loaded())


def run_task(task: RunTask) -> dict:
    """In a Ray task: pre-train the run (a Ray Train job), publish it; returns its summary row."""
    from uer_ray.plugins import restore
    from uer_ray.train.pretrain import pretrain
    from uer_ray.train.publish import publish_result

    restore(task.plugins)
    started = time.time()
    record = pretrain(task.options)
    done = publish_result(record, task.run.name, task.zoo, aliases=task.run.aliases,
                          provenance=task.provenance)
    r = record["results"]
    return {"run": task.run.name, "entry": done["entry"], "status": "built", "steps": r["steps"],
            "loss_first": r["loss_first"], "loss_last": r["loss_last"],
            "seconds": round(time.time() - started, 1), "resumed": task.resume}


def concurrency(o: BuildOptions, cpus: float, runs: int) -> int:
    """Runs at once: as asked, else one per two logical CPUs (the embedded cluster declares two
    per core), never more than leaves each a share of the CPUs beside the one kept free."""
    k = o.max_concurrent or max(1, int(cpus // 2))
    return max(1, min(k, max(1, int(cpus - 1)), runs))


def _schedule(recipe: Recipe, todo: list[tuple[Run, str]], shards: dict[str, str], out: Path,
              zoo: str, o: BuildOptions, say) -> list[dict]:
    """Every run as a Ray task, ``k`` at a time, in the recipe's order; a progress line per
    running run every ``PROGRESS_S`` seconds; a failed run is recorded and the others go on."""
    import ray

    from uer_ray.cluster import ensure_ray

    ensure_ray(o.address)
    cpus = float(ray.cluster_resources().get("CPU", 1))
    k = concurrency(o, cpus, len(todo))
    share = max(0.01, int(100 * (cpus - 1 - k * TASK_CPUS) / k) / 100)
    remote = ray.remote(num_cpus=TASK_CPUS, max_retries=0)(run_task)
    say(f"Training {len(todo)} run(s), {k} at a time, {share:g} CPU(s) each "
        f"({cpus:g} logical CPUs in the cluster).", flush=True)
    waiting = list(todo)
    running: dict[Any, tuple[Run, float]] = {}
    rows, last, shown = [], time.time(), {}
    with _interrupts() as interrupted:
        while waiting or running:
            while waiting and len(running) < k:
                run, key = waiting.pop(0)
                task = _task(recipe, run, key, shards[run.corpus], out, zoo, share, o)
                say(f"  {run.name}: {'resuming' if task.resume else 'starting'} "
                    f"({task.options.steps} steps on {run.corpus})", flush=True)
                running[remote.remote(task)] = (run, time.time())
            done, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
            if interrupted.is_set():
                for ref in running:  # their checkpoints stay: the same command resumes them
                    ray.cancel(ref, force=True)
                raise KeyboardInterrupt
            for ref in done:
                run, t0 = running.pop(ref)
                rows.append(_finished(ref, run, t0, say))
            if time.time() - last >= PROGRESS_S:
                last = time.time()
                for run, t0 in running.values():
                    line = _progress_line(out / "runs" / run.name, run, recipe, t0)
                    state, age = shown.get(run.name, (None, 0.0))
                    # a line when the run moved on, else every few minutes (it is still there)
                    if line.rpartition(",")[0] != state or last - age >= 10 * PROGRESS_S:
                        shown[run.name] = (line.rpartition(",")[0], last)
                        say(line, flush=True)
    return rows


@contextlib.contextmanager
def _interrupts():
    """Ctrl-C as an event the scheduling loop checks between waits: a SIGINT that arrives while
    the driver is inside ``ray.wait`` is otherwise lost (measured with Ray 2.60: the loop went
    on, and a build could not be stopped). The previous handler is put back afterwards."""
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: event.set())
    try:
        yield event
    finally:
        signal.signal(signal.SIGINT, previous)


def _finished(ref, run: Run, t0: float, say) -> dict:
    import ray

    try:
        row = ray.get(ref)
    except Exception as e:  # noqa: BLE001  (a failed run is recorded; the others go on)
        cause = getattr(e, "cause", None) or e
        error = (str(cause).strip().splitlines() or [type(cause).__name__])[-1]
        say(f"  {run.name}: FAILED after {time.time() - t0:.0f} s: {error}", flush=True)
        return {"run": run.name, "entry": None, "status": "failed", "steps": None,
                "loss_first": None, "loss_last": None, "seconds": round(time.time() - t0, 1),
                "error": error}
    say(f"  {run.name}: {row['steps']} steps, loss {row['loss_first']:.3f} -> {row['loss_last']:.3f} "
        f"in {row['seconds']:.0f} s; published as {row['entry']}", flush=True)
    return row


def _progress_line(folder: Path, run: Run, recipe: Recipe, t0: float) -> str:
    steps = recipe.models[run.model].training.get("steps", 1000)
    last = None
    log = folder / "metrics.jsonl"
    if log.exists():
        lines = log.read_text(encoding="utf-8").strip().splitlines()
        last = json.loads(lines[-1]) if lines else None
    state = f"step {last['step']}/{steps}, loss {last['loss']:.3f}" if last else "starting"
    return f"  {run.name}: {state}, {time.time() - t0:.0f} s"


# -- results -----------------------------------------------------------------------------------
def _skipped_row(run: Run, entry: dict) -> dict:
    t = entry.get("training") or {}
    return {"run": run.name, "entry": f"{entry['name']}@{entry['version']}", "status": "skipped",
            "steps": t.get("steps"), "loss_first": t.get("loss_first"), "loss_last": t.get("loss_last"),
            "seconds": t.get("seconds")}


def _record(recipe: Recipe, o: BuildOptions, rows: list[dict], zoo: str, inputs: dict,
            vocab: str, seconds: float, out: Path) -> dict:
    from uer_ray.records import build_record

    counts = {s: sum(r["status"] == s for r in rows) for s in ("built", "skipped", "failed")}
    return build_record(
        stage="recipe", name=f"recipe/{recipe.name}", model={}, parent=None,
        data={"recipe": {"file": recipe.path, "sha256": recipe.sha256, "vocabulary": vocab,
                         "corpora": inputs}},
        options=o.to_dict(), results={"recipe": recipe.name, "zoo": zoo, "runs": rows, **counts},
        metrics=[], checkpoint=str(out), seconds=seconds, device="cpu",
        provenance={"recipe": recipe.name, "recipe_sha256": recipe.sha256})


def summary_table(rows: list[dict]) -> str:
    head = ("ENTRY", "STATUS", "STEPS", "LOSS FIRST", "LOSS LAST", "SECONDS")
    table = [head] + [(r["entry"] or r["run"], r["status"], _cell(r["steps"]), _cell(r["loss_first"]),
                       _cell(r["loss_last"]), _cell(r["seconds"], "{:.0f}")) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in table)


def _cell(v, fmt: str = "{:.4f}") -> str:
    if v is None:
        return "-"
    return fmt.format(v) if isinstance(v, float) else str(v)


def summary_text(record: dict) -> str:
    r = record["results"]
    text = (f"Recipe {r['recipe']}: {r['built']} built, {r['skipped']} already in the zoo, "
            f"{r['failed']} failed, in {record['seconds']:.0f} s. Zoo: {r['zoo']}; build record: "
            f"{Path(record['checkpoint']) / 'metrics.json'}.")
    if r["failed"]:
        text += " Run the same command again to retry the failed runs (finished ones are skipped)."
    return text
