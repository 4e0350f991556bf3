"""``search(SearchOptions)``: a search space -> Ray Tune trials -> leaderboard, test score of the
winner, the top configurations in the zoo, and the search's result record (DESIGN §9).

Output folder::

    search.json        the options, the space's sha256 and the search id (--resume checks them)
    data/ vocab.txt    the data files after the space's row limits; the vocabulary
    shards/            the stage-2 corpus as shards, made once for every trial
    stage2/<key>/      shared stage-2 pre-training runs (pretrain output folders)
    trials/<id>/finetune/   each finished trial's fine-tuned model (a finetune output folder)
    tune/              the Ray Tune experiment (Tuner.restore reads it; searcher and scheduler state)
    leaderboard.csv/.md, metrics.json (the search's result record), wandb/

``--out`` is a folder every node sees, or a store URI (``s3://bucket/searches/book_review``):
then the store holds the same layout (plus ``ray/``, the stage-2 runs' Ray Train storage) and
every process works in a local mirror of it (``uer_ray.tune.home``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from uer_ray.config import Options
from uer_ray.errors import OptionsError
from uer_ray.tune.checks import load_space
from uer_ray.tune.space import NO_STAGE2, SearchSpace
from uer_ray.tune.trial import SearchContext, run_trial
from uer_ray.tune.trial_config import DEFAULT_EPOCHS, TrialConfig

EXPERIMENT = "tune"
# What a trial actor reserves itself (Tune rejects 0); its fine-tuning threads and its stage-2
# workers are sized from the search's CPU shares instead (see _context).
TRIAL_CPUS = 0.01


@dataclass(frozen=True, kw_only=True)
class SearchOptions(Options):
    """Everything ``python run.py search`` accepts; unset values come from the space's budget."""

    space: str
    out: str | None = None
    """default: runs/search/<space name>"""
    samples: int | None = None
    searcher: str | None = None
    """random | grid | optuna"""
    scheduler: str | None = None
    """asha | fifo"""
    max_concurrent: int | None = None
    repeat: int | None = None
    """re-run the top configurations with this many more seeds (mean ± std)"""
    publish_top: int | None = None
    """configurations that go into the zoo (0: none)"""
    zoo: str | None = None
    seed: int | None = None
    resume: bool = False
    address: str | None = None
    device: str = "cpu"
    wandb_mode: str | None = None
    wandb_project: str = "uer_ray"
    progress: bool = True


def search(options: SearchOptions) -> dict:
    """Run (or resume) a search; returns its result record (also in ``OUT/metrics.json``)."""
    from uer_ray.cluster import ensure_ray
    from uer_ray.tune import prepare, results
    from uer_ray.tune.home import SearchHome, is_remote, top_folders

    space = load_space(options.space, zoo=options.zoo)
    o = _with_budget(options, space)
    home = SearchHome(o.out if is_remote(o.out) else str(Path(o.out.removeprefix("file://")).absolute()))
    out = home.local()  # the search folder, or the driver's mirror of the store
    if home.remote:
        _mirror(home, out, o.resume)
    state = _open(out, o, space)
    space = _pinned(space, state)
    home.push(out, "search.json")  # first: a store that cannot take it fails before any work
    started = time.time()
    inputs = prepare.inputs(space, out, progress=o.progress, copy=home.remote, zoo=o.zoo)
    if home.remote:
        inputs = _relative(inputs, out)
        for rel in top_folders([*inputs.files.values(), inputs.vocab, inputs.shards]):
            home.push(out, rel, bar=o.progress)
    ensure_ray(o.address)
    ctx = _context(space, o, home, state["search_id"], inputs)
    from uer_ray.tune.stage2 import registry

    # The stage-2 registry belongs to the driver: made by a trial, it would die with that trial.
    # A space without stage 2 needs none (an actor is a process: a second of start-up here).
    keep = registry(state["search_id"]) if space.stage2 is not None else None
    try:
        grid = _run(ctx, o, out, space)
        board = results.leaderboard(grid, space)
        winner = results.evaluate_winner(board, ctx)
        repeats = _repeat(ctx, o, out, space, board) if o.repeat else None
    finally:
        _stop(keep)
    published = results.publish(board, ctx, o) if o.publish_top else []
    record = results.search_record(space, o, ctx, board, winner, repeats, published,
                                   seconds=time.time() - started, out=out)
    results.write(out, board, repeats, record)
    if home.remote:  # the results into the store; Tune's experiments into the mirror (report)
        for rel in ("leaderboard.csv", "leaderboard.md", "metrics.json", "optuna.db"):
            if (out / rel).exists():
                home.push(out, rel)
        for rel in (EXPERIMENT, "repeat"):
            if home.exists(rel):
                home.pull(out, rel, refresh=True)
    record["results"]["workspace"] = _workspace(out, o)
    if o.progress:
        print(results.summary_text(record, board, repeats, published, home), flush=True)
    return record


def _stop(actor) -> None:
    """End the registry actor now: left to the driver's exit, its process can abort while Ray
    tears it down (a stack trace after a search that succeeded)."""
    import ray

    if actor is None:
        return
    try:
        ray.kill(actor)
    except Exception:  # noqa: BLE001  (Ray already gone: nothing to stop)
        pass


def _mirror(home, out: Path, resume: bool) -> None:
    """The driver's mirror of a store home: emptied for a new search (the store is the truth);
    for --resume, the state and inputs pulled from the store."""
    import shutil

    if not resume:
        if home.exists("search.json"):
            raise OptionsError(f"{home.display} already holds a search: pass --resume to "
                               "continue it, or choose another --out")
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True, exist_ok=True)
        return
    if not home.exists("search.json"):
        raise OptionsError(f"{home.display}: no search to resume (search.json missing); drop --resume")
    home.pull(out, "search.json", refresh=True)
    for rel in ("data", "shards", "optuna.db", "vocab.txt"):
        if home.exists(rel):
            home.pull(out, rel)


def _relative(inputs, out: Path):
    """Inputs as paths relative to the search folder (a trial resolves them in its mirror)."""
    def rel(p):
        return None if p is None else Path(p).relative_to(out).as_posix()

    return replace(inputs, files={k: rel(v) for k, v in inputs.files.items()},
                   vocab=rel(inputs.vocab), shards=rel(inputs.shards))


def _workspace(out: Path, o: SearchOptions) -> str | None:
    """The search's W&B workspace definition (saved on W&B when online); see report.workspace."""
    if o.wandb_mode == "disabled":
        return None
    from uer_ray.report.workspace import for_search

    try:
        return for_search(out, project=o.wandb_project, mode=o.wandb_mode)
    except ImportError as e:  # wandb_workspaces missing: the search itself is done
        return f"not written ({e})"


def _with_budget(o: SearchOptions, space: SearchSpace) -> SearchOptions:
    b = space.budget
    return replace(
        o, out=o.out or str(Path("runs") / "search" / space.name),
        samples=o.samples if o.samples is not None else b.samples,
        searcher=o.searcher or b.searcher, scheduler=o.scheduler or b.scheduler,
        max_concurrent=o.max_concurrent or b.max_concurrent,
        repeat=o.repeat if o.repeat is not None else b.repeat,
        publish_top=o.publish_top if o.publish_top is not None else b.publish_top,
        seed=o.seed if o.seed is not None else b.seed)


def _open(out: Path, o: SearchOptions, space: SearchSpace) -> dict:
    """Create the output folder, or reopen it for --resume (the space must be unchanged)."""
    from uer_ray.atomic import write_json

    state_file = out / "search.json"
    space_sha = hashlib.sha256(Path(space.path).read_bytes()).hexdigest()
    if o.resume:
        if not state_file.exists():
            raise OptionsError(f"{out}: no search to resume (search.json missing); drop --resume")
        state = json.loads(state_file.read_text(encoding="utf-8"))
        if state["space_sha256"] != space_sha:
            raise OptionsError(f"{space.path} changed since the search in {out} started: a "
                               "resumed search keeps its space; start a new one with another --out")
        return state
    if state_file.exists():
        raise OptionsError(f"{out} already holds a search: pass --resume to continue it, or "
                           "choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    planned = o.samples if o.searcher == "optuna" else len(proposals(space, o))
    search_id = uuid.uuid4().hex[:8]
    state = {"search_id": search_id, "space": space.path, "space_sha256": space_sha,
             "name": space.name, "options": o.to_dict(), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
             "task": space.task, "metric": space.select_metric,
             "files": dict(space.data), "planned": planned,
             "stage1": {n: e.stage1 for n, e in space.encoders.items()}}
    write_json(state_file, state)
    return state


def _pinned(space: SearchSpace, state: dict) -> SearchSpace:
    """The space with the stage-1 versions the search started with (a resumed search keeps
    them, wherever ``latest`` has moved since)."""
    stored = state.get("stage1") or {}
    encoders = {n: replace(e, stage1=stored.get(n, e.stage1)) for n, e in space.encoders.items()}
    return replace(space, encoders=encoders)


def _context(space: SearchSpace, o: SearchOptions, home, search_id: str, inputs) -> SearchContext:
    """Trial resources: each of K concurrent trials gets an equal share of the cluster's CPUs
    with one CPU kept free for Ray Data reads (RAY_NOTES: two workers that take every CPU hang
    a 2-CPU machine), and an equal share of the cores for its torch threads."""
    import ray

    from uer_ray.plugins import loaded
    from uer_ray.zoo import Zoo

    cpus = float(ray.cluster_resources().get("CPU", 1))
    k = concurrency(o, cpus)
    # the trials' own reservations (TRIAL_CPUS each) come out of the shares too, so that one
    # whole CPU stays free for reads
    share = max(0.01, int(100 * (cpus - 1 - k * TRIAL_CPUS) / k) / 100)
    cores = os.cpu_count() or 1
    return SearchContext(space=space, out=home.uri, search_id=search_id, files=inputs.files,
                         vocab=inputs.vocab, tokenizer=inputs.tokenizer, shards=inputs.shards,
                         shards_sha256=inputs.shards_sha256, threads=max(1, cores // k),
                         stage2_cpus=share, metric=space.select_metric,
                         wandb_mode=o.wandb_mode, wandb_project=o.wandb_project,
                         extra={"concurrency": k, "cluster_cpus": cpus, "device": o.device},
                         plugins=loaded(), zoo=Zoo(o.zoo).uri)


def concurrency(o: SearchOptions, cpus: float) -> int:
    """Trials at once: as asked, else one per two logical CPUs (the embedded cluster declares
    two per core), never more than leaves each a share of the CPUs beside the reserved one."""
    room = max(1, int(cpus - 1))
    k = o.max_concurrent or max(1, int(cpus // 2))
    return max(1, min(k, room))


def proposals(space: SearchSpace, o: SearchOptions) -> list[TrialConfig]:
    """The configurations of a random or grid search, seeded: the same seed proposes the same."""
    import random

    if o.searcher == "grid":
        space.require_grid()
        return space.grid(o.seed)
    rng = random.Random(o.seed)
    return [space.sample(rng, o.seed) for _ in range(o.samples)]


def _run(ctx: SearchContext, o: SearchOptions, out: Path, space: SearchSpace, *,
         name: str = EXPERIMENT, configs: list[TrialConfig] | None = None,
         scheduler: str | None = None):
    """Fit (or restore and finish) one Tune experiment; returns its ResultGrid. Tune holds each
    trial's configuration in its flat form (``{"trial": TrialConfig.to_flat()}``): that is
    what its experiment state keeps for ``Tuner.restore``, and what a trial reads back."""
    from ray import tune

    from uer_ray.tune.progress import TrialLines

    # A trial that only fine-tunes computes in its own process: it reserves its whole share, so
    # that Ray spreads concurrent trials over a cluster's nodes instead of packing them onto one.
    # With stage 2 its Ray Train workers reserve the share themselves (a trial holding it too
    # would leave them nothing), and the trial keeps a token reservation.
    cpus = TRIAL_CPUS if space.stage2 is not None else ctx.stage2_cpus
    trainable = tune.with_resources(tune.with_parameters(run_trial, ctx=ctx), {"cpu": cpus})
    home = ctx.home
    folder = home.uri_of(name)  # in the store for a store home: any machine can --resume
    if o.resume and tune.Tuner.can_restore(folder):
        tuner = tune.Tuner.restore(folder, trainable=trainable, resume_unfinished=True,
                                   resume_errored=True)
        return _finished(tuner.fit(), o.out)
    searcher, param_space, samples = None, {}, 1
    if configs is None and o.searcher == "optuna":
        searcher = _optuna(space, o, out)
        samples = o.samples
    else:
        configs = configs if configs is not None else proposals(space, o)
        param_space = {"trial": tune.grid_search([c.to_flat() for c in configs])}
    epochs = max_epochs(space)
    sched = scheduler or o.scheduler
    tuner = tune.Tuner(
        trainable, param_space=param_space,
        tune_config=tune.TuneConfig(
            metric="dev", mode="max", search_alg=searcher, num_samples=samples,
            scheduler=_scheduler(sched, epochs, space.budget.grace_period),
            max_concurrent_trials=ctx.extra["concurrency"],
            # a trial process is kept for the next trial: no new Python, no torch import
            # (seconds per trial on a small machine; bench/search.py part a)
            reuse_actors=True,
            trial_dirname_creator=lambda t: f"trial_{t.trial_id}",
            trial_name_creator=lambda t: t.trial_id),
        run_config=tune.RunConfig(
            name=name, storage_path=home.uri if home.remote else str(out), verbose=0,
            failure_config=tune.FailureConfig(max_failures=1),
            callbacks=[TrialLines(space, enabled=o.progress)]),
    )
    return _finished(tuner.fit(), o.out)


def _finished(grid, out):
    """The ResultGrid of a search that ran to its end. Tune answers Ctrl-C by stopping the
    trials and returning what it has: that is an interruption, not a result."""
    unfinished = len(grid) - grid.num_terminated - grid.num_errors
    if unfinished > 0:
        print(f"\nThe search stopped with {unfinished} trial(s) unfinished; continue it with "
              f"--resume --out {out}", flush=True)
        raise KeyboardInterrupt
    return grid


def max_epochs(space: SearchSpace) -> int:
    d = space.finetune.get("epochs")
    if d is None:
        return DEFAULT_EPOCHS
    return int(max(d.grid()) if d.finite else d.high)


def _scheduler(kind: str, epochs: int, grace: int):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if kind == "fifo":
        return FIFOScheduler()
    return ASHAScheduler(time_attr="epoch", max_t=epochs, grace_period=min(grace, epochs),
                         reduction_factor=2)


def _optuna(space: SearchSpace, o: SearchOptions, out: Path):
    """Optuna's TPE over the define-by-run space; the study is kept in OUT/optuna.db, so
    ``optuna-dashboard sqlite:///OUT/optuna.db`` shows it."""
    try:
        import optuna
        from ray.tune.search.optuna import OptunaSearch
    except ImportError as e:
        raise OptionsError(f"--searcher optuna needs the optuna package ({e})") from None
    storage = optuna.storages.RDBStorage(f"sqlite:///{out / 'optuna.db'}")
    return OptunaSearch(space=lambda trial: {"trial": space.suggest(trial, o.seed).to_flat()},
                        metric="dev", mode="max", sampler=optuna.samplers.TPESampler(seed=o.seed),
                        storage=storage, study_name=f"uer_ray-{space.name}")


def _repeat(ctx: SearchContext, o: SearchOptions, out: Path, space: SearchSpace, board) -> dict:
    """Re-run the top configurations with ``o.repeat`` more seeds (FIFO: every run to the end)."""
    from uer_ray.tune import results

    top = results.top_configs(board, min(3, len(board)))
    configs = [replace(c, seed=o.seed + k + 1) for c in top for k in range(o.repeat)]
    if not configs:
        return {}
    grid = _run(ctx, o, out, space, name="repeat", configs=configs, scheduler="fifo")
    return results.repeats(top, results.leaderboard(grid, space), board)


__all__ = ["NO_STAGE2", "SearchOptions", "concurrency", "proposals", "search"]
