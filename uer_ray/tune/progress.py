"""What a running search prints: one line per trial event (started, each epoch's dev metric,
stopped early, finished, failed) and the best so far, instead of Ray Tune's status tables."""

from __future__ import annotations

import time

from ray.tune import Callback

from uer_ray.tune.space import SearchSpace


def describe(config: dict) -> str:
    trial = config.get("trial", {})
    targets = "+".join(f"{k.split('.', 1)[1]}:{v:.2g}" for k, v in trial.items()
                       if k.startswith("targets."))
    stage2 = trial.get("stage2", "?")
    if stage2 != "none" and targets:
        stage2 = f"{stage2}({targets}, {trial.get('stage2_steps')} steps)"
    return f"{trial.get('encoder', '?')} / stage2 {stage2} / lr {trial.get('lr', float('nan')):.2g}"


class TrialLines(Callback):
    """Prints trial events as they happen (``enabled=False``: silent)."""

    def __init__(self, space: SearchSpace, enabled: bool = True):
        self.space = space
        self.enabled = enabled
        self.best: tuple[float, str] | None = None
        self.started = time.time()
        self.counts = {"started": 0, "finished": 0, "stopped": 0, "failed": 0}

    def _say(self, text: str) -> None:
        if self.enabled:
            print(f"[search {time.time() - self.started:6.0f} s] {text}", flush=True)

    def on_trial_start(self, iteration, trials, trial, **info):
        self.counts["started"] += 1
        self._say(f"{trial.trial_id} started: {describe(trial.config)}")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        dev = result.get("dev")
        if dev is None:
            return
        if self.best is None or dev > self.best[0]:
            self.best = (dev, trial.trial_id)
        self._say(f"{trial.trial_id} epoch {result.get('epoch')}: dev {dev:.4f} "
                  f"(best so far {self.best[0]:.4f}, {self.best[1]})")

    def on_trial_complete(self, iteration, trials, trial, **info):
        epochs = trial.last_result.get("epoch", 0) if trial.last_result else 0
        wanted = trial.config.get("trial", {}).get("epochs", epochs)
        stopped = bool(epochs) and epochs < wanted
        self.counts["stopped" if stopped else "finished"] += 1
        self._say(f"{trial.trial_id} {'stopped early by the scheduler' if stopped else 'finished'} "
                  f"after {epochs} epoch(s); {self._tally(trials)}")

    def on_trial_error(self, iteration, trials, trial, **info):
        self.counts["failed"] += 1
        self._say(f"{trial.trial_id} failed: {trial.error_file or 'see its folder'}; "
                  f"{self._tally(trials)}")

    def _tally(self, trials) -> str:
        running = sum(t.status == "RUNNING" for t in trials)
        pending = sum(t.status == "PENDING" for t in trials)
        c = self.counts
        return (f"{c['finished']} finished, {c['stopped']} stopped, {c['failed']} failed, "
                f"{running} running, {pending} pending")
