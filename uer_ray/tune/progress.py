"""What a running search prints instead of Ray Tune's status dump: a line per trial event
(started, each epoch's dev metric, stopped early, finished, failed), and a table of every trial
— status, epochs, dev metric, best so far — whenever a trial ends and at most every
``REFRESH_S`` seconds while something changed."""

from __future__ import annotations

import time

from ray.tune import Callback

from uer_ray.tune.space import SearchSpace
from uer_ray.tune.trial_config import DEFAULT_EPOCHS, TrialConfig

REFRESH_S = 30.0


def _trial(config: dict) -> TrialConfig | None:
    """The configuration of a Tune trial (None before its searcher has proposed one)."""
    return TrialConfig.from_flat(config["trial"]) if config.get("trial") else None


def describe(config: dict) -> str:
    """One line for a Tune trial's configuration."""
    trial = _trial(config)
    if trial is None:
        return "? / stage2 ? / lr nan"
    targets = "+".join(f"{t}:{w:.2g}" for t, w in trial.targets.items())
    stage2 = trial.stage2
    if trial.has_stage2 and targets:
        stage2 = f"{stage2}({targets}, {trial.stage2_steps} steps)"
    return f"{trial.encoder} / stage2 {stage2} / lr {trial.lr:.2g}"


class TrialLines(Callback):
    """Trial events and a refreshing table (``enabled=False``: silent)."""

    def __init__(self, space: SearchSpace, enabled: bool = True, metric: str = "dev"):
        self.space = space
        self.enabled = enabled
        self.metric = metric
        self.best: tuple[float, str] | None = None
        self.started = time.time()
        self.rows: dict[str, dict] = {}
        self._printed_at = 0.0
        self._changed = False

    def _say(self, text: str) -> None:
        if self.enabled:
            print(f"[search {time.time() - self.started:6.0f} s] {text}", flush=True)

    def _row(self, trial) -> dict:
        return self.rows.setdefault(trial.trial_id, {"what": describe(trial.config), "status": "running",
                                                     "epoch": 0, "dev": None, "best": None})

    def on_trial_start(self, iteration, trials, trial, **info):
        self._row(trial)["status"] = "running"  # also a failed trial that is retried
        self._changed = True
        self._say(f"{trial.trial_id} started: {describe(trial.config)}")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        dev = result.get("dev")
        if dev is None:
            return
        row = self._row(trial)
        row.update(epoch=result.get("epoch"), dev=dev, best=max(dev, row["best"] or dev))
        if self.best is None or dev > self.best[0]:
            self.best = (dev, trial.trial_id)
        self._changed = True
        self._say(f"{trial.trial_id} epoch {result.get('epoch')}: dev {dev:.4f} "
                  f"(best so far {self.best[0]:.4f}, {self.best[1]})")

    def on_trial_complete(self, iteration, trials, trial, **info):
        row = self._row(trial)
        config = _trial(trial.config)
        wanted = config.epochs if config is not None else DEFAULT_EPOCHS
        stopped = bool(row["epoch"]) and row["epoch"] < wanted
        row["status"] = "stopped early" if stopped else "finished"
        self._say(f"{trial.trial_id} {'stopped early by the scheduler' if stopped else 'finished'} "
                  f"after {row['epoch']} epoch(s)")
        self._table(trials)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._row(trial)["status"] = "failed"
        self._say(f"{trial.trial_id} failed: {trial.error_file or 'see its folder'}")
        self._table(trials)

    def on_step(self, iteration, trials, **info):
        if self._changed and time.time() - self._printed_at > REFRESH_S:
            self._table(trials)

    def on_experiment_end(self, trials, **info):
        self._table(trials)

    def _table(self, trials) -> None:
        self._changed, self._printed_at = False, time.time()
        if not self.enabled:
            return
        pending = [t for t in trials if t.status == "PENDING" and t.trial_id not in self.rows]
        print(self.table(pending=len(pending)), flush=True)

    def table(self, pending: int = 0) -> str:
        """The trials so far, best first, as fixed-width text."""
        rows = sorted(self.rows.items(), key=lambda kv: -(kv[1]["best"] or -1))
        width = max([len(r["what"]) for _, r in rows] + [13])
        lines = [f"{'trial':12}  {'configuration':{width}}  {'status':13}  epoch  {'dev':>7}  {'best':>7}"]
        for tid, r in rows:
            dev = f"{r['dev']:.4f}" if r["dev"] is not None else "-"
            best = f"{r['best']:.4f}" if r["best"] is not None else "-"
            lines.append(f"{tid:12}  {r['what']:{width}}  {r['status']:13}  {r['epoch'] or 0:5}  "
                         f"{dev:>7}  {best:>7}")
        counts = {s: sum(r["status"] == s for r in self.rows.values())
                  for s in ("running", "finished", "stopped early", "failed")}
        best = f"; best so far {self.best[0]:.4f} ({self.best[1]})" if self.best else ""
        lines.append(f"{counts['running']} running, {counts['finished']} finished, "
                     f"{counts['stopped early']} stopped early, {counts['failed']} failed, "
                     f"{pending} pending{best}")
        return "\n".join(["", *lines, ""])
