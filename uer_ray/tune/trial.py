"""One search trial: [stage-2 ``pretrain`` on Ray Train] + ``finetune``, as a Tune function
trainable that calls the library stages (never argparse, never a subprocess).

The trial reports the dev metric after every fine-tuning epoch (``epoch`` is ASHA's time
attribute), so a bad trial is stopped early; a stopped trial's fine-tuning output is removed
atomically, its stage-2 checkpoint stays for the others. Fine-tuning runs inside the trial's
process with the trial's share of the cores; stage 2 runs on Ray Train workers sized from the
trial's CPU share, named ``stage2-<key>`` so that a restored search finds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uer_ray.tune.space import SearchSpace
from uer_ray.tune.trial_config import TrialConfig


@dataclass(frozen=True)
class SearchContext:
    """What every trial of one search shares (made once by the driver, pickled to trials)."""

    space: SearchSpace
    out: str
    search_id: str
    files: dict[str, str]
    """train/dev/test after the space's row limits"""
    vocab: str | None
    tokenizer: str
    shards: str | None
    shards_sha256: str | None
    threads: int
    stage2_cpus: float
    metric: str
    wandb_mode: str | None = None
    wandb_project: str = "uer_ray"
    extra: dict = field(default_factory=dict)
    plugins: tuple = ()
    """modules from outside uer_ray the trials need registered (``uer_ray.plugins``)"""
    zoo: str | None = None
    """the zoo of the encoders' stage-1 ``zoo:`` references (a URI every node reaches)"""

    @property
    def group(self) -> str:
        return f"search-{self.space.name}-{self.search_id}"

    @property
    def home(self):
        """Where the search's files live (``out``: a folder every node sees, or a store URI)."""
        from uer_ray.tune.home import SearchHome

        return SearchHome(self.out)

    def path(self, p: str | None, work: Path) -> str | None:
        """An input path as this process reads it: relative ones are under its folder ``work``."""
        return None if p is None else str(work / p) if not Path(p).is_absolute() else p

    def pull_inputs(self, work: Path, stage2: bool) -> None:
        """Bring the inputs a trial reads into ``work`` (a store home; once per node)."""
        home = self.home
        if not home.remote:
            return
        from uer_ray.tune.home import top_folders

        for top in top_folders([*self.files.values(), self.vocab, self.shards if stage2 else None]):
            home.pull(work, top)


def trial_config(config: dict) -> TrialConfig:
    """A trial's configuration, from Tune's: a grid/random config (``{"trial": {...flat}}``) or
    an Optuna one (its define-by-run function returns the same ``trial`` constant)."""
    return TrialConfig.from_flat(config["trial"])


def stage2_options(ctx: SearchContext, trial: TrialConfig, trial_id: str, work: Path | None = None):
    """The stage-2 ``PretrainOptions`` of a trial (None without stage 2) and its cache key;
    ``work`` is the trial's folder (the search folder, or its node's mirror of a store home)."""
    from uer_ray.models import load_preset
    from uer_ray.train.pretrain import PretrainOptions
    from uer_ray.tune.stage2 import stage2_key

    if not trial.has_stage2:
        return None, None
    space, s2 = ctx.space, ctx.space.stage2
    enc = space.encoders[trial.encoder]
    targets = {k: float(v) for k, v in trial.targets.items()}
    steps = trial.stage2_steps
    model = load_preset(enc.model) if enc.model is not None else None
    parts = {"stage1": enc.stage1, "model": model, "corpus": ctx.shards_sha256,
             "targets": targets, "steps": steps, "seed": trial.seed,
             "lr": s2.lr, "batch_size": s2.batch_size, "workers": s2.workers}
    key = stage2_key(parts)
    work = work or ctx.home.local()
    folder = work / "stage2" / key
    init = enc.stage1 if enc.from_checkpoint else None  # the checkpoint's config is the model
    options = PretrainOptions(
        model=None if init else model, init=init, zoo=ctx.zoo, targets=targets,
        data=ctx.path(ctx.shards, work),
        vocab=ctx.path(ctx.vocab, work), out=str(folder), steps=int(steps), lr=s2.lr,
        storage=ctx.home.uri_of("ray") if ctx.home.remote else None,
        batch_size=s2.batch_size, workers=s2.workers, seed=int(trial.seed),
        cpus_per_worker=ctx.stage2_cpus / s2.workers, save_every=max(50, steps // 4),
        log_every=max(1, steps // 20), run_name=f"stage2-{key}",
        max_failures=1, progress=False, wandb_mode=ctx.wandb_mode, wandb_project=ctx.wandb_project,
        wandb_group=ctx.group, wandb_name=f"stage2/{trial.encoder}/{trial.stage2}/{key}",
        wandb_dir=str(work),
        wandb_tags=[f"search:{ctx.space.name}", f"enc:{trial.encoder}"],
        wandb_config=_wandb_config(trial), provenance={"search": ctx.search_id, "trial": trial_id,
                                                        "stage2_key": key})
    return options, key


def finetune_options(ctx: SearchContext, trial: TrialConfig, trial_id: str, init: str | None,
                     work: Path | None = None):
    from uer_ray.train.finetune import FinetuneOptions

    space = ctx.space
    work = work or ctx.home.local()
    enc = space.encoders[trial.encoder]
    start = init or (enc.stage1 if enc.from_checkpoint else None)
    return FinetuneOptions(
        task=space.task, train=ctx.path(ctx.files["train"], work), dev=ctx.path(ctx.files["dev"], work),
        dataset=space.dataset, out=str(work / "trials" / trial_id / "finetune"), init=start, zoo=ctx.zoo,
        model=None if start else enc.model, vocab=None if start else ctx.path(ctx.vocab, work),
        tokenizer=ctx.tokenizer, lr=float(trial.lr), seed=int(trial.seed), metric=space.metric,
        **trial.finetune,
        progress=False, device="cpu", wandb_mode=ctx.wandb_mode, wandb_project=ctx.wandb_project,
        wandb_group=ctx.group, wandb_name=f"{trial_id}/finetune",
        wandb_dir=str(work),
        wandb_tags=[f"search:{space.name}", f"enc:{trial.encoder}", f"stage2:{trial.stage2}"],
        wandb_config=_wandb_config(trial),
        provenance={"search": ctx.search_id, "trial": trial_id})


def _wandb_config(trial: TrialConfig) -> dict:
    """Flat keys for W&B's parallel coordinates and grouping."""
    return {k: v for k, v in trial.to_flat().items() if isinstance(v, (str, int, float, bool))}


def run_trial(config: dict, ctx: SearchContext) -> None:
    """The Tune function trainable (``tune.with_parameters(run_trial, ctx=...)``)."""
    import torch
    from ray import tune

    from uer_ray.plugins import restore
    from uer_ray.train.finetune import finetune
    from uer_ray.train.pretrain import pretrain
    from uer_ray.tune import stage2
    from uer_ray.tune.home import node_name

    restore(ctx.plugins)
    trial = trial_config(config)
    trial_id = tune.get_context().get_trial_id()
    torch.set_num_threads(ctx.threads)
    home = ctx.home
    work = home.local(node_name())  # the search folder, or this node's mirror of the store
    ctx.pull_inputs(work, stage2=trial.has_stage2)
    init = None
    s2_options, key = stage2_options(ctx, trial, trial_id, work)
    if s2_options is not None:
        from dataclasses import replace

        def train(resume: bool, on_log) -> dict:
            return pretrain(replace(s2_options, resume=resume, overwrite=not resume), on_log=on_log)

        print(f"{trial_id}: stage 2 {trial.stage2} for {trial.encoder} ({key})", flush=True)
        record, trained = stage2.ensure(Path(s2_options.out), s2_options.steps,
                                        search_id=ctx.search_id, holder=trial_id, train=train,
                                        home=home, work=work)
        print(f"{trial_id}: stage 2 {'trained' if trained else 'reused'}: loss "
              f"{record['results']['loss_first']:.3f} -> {record['results']['loss_last']:.3f}", flush=True)
        init = str(Path(s2_options.out) / "final") if home.remote else record["checkpoint"]
    metric = f"dev/{ctx.metric}"
    options = finetune_options(ctx, trial, trial_id, init, work)
    last = {}

    def report(epoch_record: dict) -> None:
        # ASHA answers the report of the last epoch with "stop" (its time budget is reached),
        # which would end the trial before fine-tuning writes its output: that one is sent after
        # fine-tuning has finished.
        if epoch_record["epoch"] >= options.epochs:
            last.update(epoch_record)
            return
        tune.report(_tune_metrics(epoch_record, metric))

    finetune(options, on_epoch=report)
    # the model goes to the store before the last report: a trial Tune calls finished has it there
    home.push(work, "trials", trial_id, "finetune")
    if last:  # (a run stopped early by --patience has reported all its epochs already)
        tune.report(_tune_metrics(last, metric))


def _tune_metrics(epoch_record: dict, metric: str) -> dict:
    return {"epoch": epoch_record["epoch"], "dev": epoch_record[metric],
            "train_loss": epoch_record["train/loss"],
            **{k: v for k, v in epoch_record.items() if k.startswith("dev/")}}


def trial_summary(trial: TrialConfig) -> dict[str, Any]:
    """Readable columns of a trial configuration (the leaderboard's)."""
    weights = "+".join(f"{t}:{w:.2g}" for t, w in trial.targets.items()) or "-"
    steps = trial.stage2_steps if trial.stage2_steps is not None else 0
    return {"encoder": trial.encoder, "stage2": trial.stage2, "weights": weights,
            "stage2_steps": steps, "lr": trial.lr, **trial.finetune, "seed": trial.seed}
