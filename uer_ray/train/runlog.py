"""The driver's side of a pre-training run's log: ``metrics.jsonl`` and W&B are written by the
process that called ``pretrain`` (the job's driver), from the records world rank 0 sends through
``driver.emit``. No file is written on a worker's node, so a run whose nodes share no disk ends
with its whole log, and a worker group restarted on another node continues the same file and
the same W&B run.

The records, in the order rank 0 sent them (one worker group at a time sends, so the order
holds across restarts):

``{"restart_from": STEP, "workers": N}``
    the first record of every (re)started worker group: it continues from the checkpoint at
    STEP (0: from scratch). Lines after STEP are dropped, as those steps are trained again, so
    the file never has a gap and never holds a step twice.
``{"step": ..., "loss": ..., ...}``
    a log line: appended to ``metrics.jsonl`` (flushed to disk), logged to W&B, passed to the
    caller's ``on_log``.

W&B cannot take a step back: a step it already has (trained again after a restart) is not sent
twice, so W&B keeps the first values of a redone step while ``metrics.jsonl`` holds those of the
run that made the final model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from uer_ray.tracking import MetricsLog, WandbRun, WandbSettings

RESTART = "restart_from"


def wandb_settings(o, names: dict[str, Any], run: dict) -> dict | None:
    """The W&B run of pretrain options ``o`` (None when W&B is off): one run per pre-training
    run, resumed under the same id (``run.json``'s ``wandb_id``) when the run is resumed."""
    if (o.wandb_mode or "") == "disabled":
        return None
    return {
        "project": o.wandb_project,
        "name": o.wandb_name or names["name"],
        "group": o.wandb_group or names["group"],
        "tags": [*names["tags"], *o.wandb_tags],
        "mode": o.wandb_mode,
        "job_type": "pretrain",
        "run_id": run["wandb_id"],
        "dir": str(Path(o.wandb_dir or o.out).absolute()),
    }


class DriverLog:
    """``on_record`` of a pre-training run: the records above into ``metrics.jsonl``, W&B and
    ``on_log``. Use as a context manager around ``driver.fit`` (W&B is finished on exit)."""

    def __init__(self, path: str | Path, *, wandb: dict | None, config: dict,
                 on_log: Callable[[dict], None] | None = None):
        self.file = MetricsLog(path)
        self.on_log = on_log
        self.restarts: list[dict] = []
        self.last: dict | None = None
        self._wandb = WandbRun(WandbSettings(**wandb), config) if wandb else None
        self._wandb_step = -1  # the highest step W&B holds from this process

    def __call__(self, record: dict) -> None:
        if RESTART in record:
            self.file.truncate_after(int(record[RESTART]))
            self.restarts.append(dict(record))
            return
        self.file.append(record)
        self.last = record
        step = int(record["step"])
        if self._wandb is not None and step > self._wandb_step:
            self._wandb.log({k: v for k, v in record.items() if k not in ("step", "time")}, step=step)
            self._wandb_step = step
        if self.on_log is not None:
            self.on_log(record)

    def close(self) -> None:
        if self._wandb is not None:
            if self.last is not None:
                self._wandb.summary({k: v for k, v in self.last.items() if k != "time"})
            self._wandb.finish()
            self._wandb = None

    def __enter__(self) -> DriverLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
