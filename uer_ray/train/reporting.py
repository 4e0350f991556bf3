"""Metrics of a training run: averaged over a logging window and over workers, then written by
world rank 0 to ``metrics.jsonl``, W&B and a progress bar."""

from __future__ import annotations

import builtins
import sys
import time
from collections import defaultdict

import torch

from uer_ray.tracking import MetricsLog, WandbRun, WandbSettings
from uer_ray.train.driver import emit


class Window:
    """Sums of per-micro-batch metrics since the last log line, on one worker."""

    def __init__(self):
        self.sums: dict[str, float] = defaultdict(float)
        self.batches = 0
        self.tokens = 0
        self.started = time.perf_counter()

    def add(self, metrics: dict[str, float], tokens: int) -> None:
        for k, v in metrics.items():
            self.sums[k] += v
        self.batches += 1
        self.tokens += tokens

    def reduce(self, world: int) -> dict[str, float]:
        """Means over micro-batches and workers (counts are summed), plus tokens/s of the whole
        run. One all-reduce of one small vector; every worker must call it."""
        keys = sorted(self.sums)
        values = torch.tensor(
            [self.sums[k] for k in keys] + [self.batches, self.tokens], dtype=torch.float64
        )
        if world > 1:
            import torch.distributed as dist

            dist.all_reduce(values)
        *sums, batches, tokens = values.tolist()
        elapsed = max(1e-9, time.perf_counter() - self.started)
        out = {}
        for k, v in zip(keys, sums, strict=True):
            out[k] = v if k.endswith("/count") else v / max(1.0, batches)
        out["tokens"] = tokens
        out["tokens_per_s"] = tokens / elapsed
        return out


class RankZeroLog:
    """metrics.jsonl + W&B + progress bar on world rank 0; other ranks only keep ``last``."""

    def __init__(self, config: dict, rank: int, world: int, start_step: int):
        self.rank, self.world = rank, world
        self.total_steps = config["steps"]
        self.last: dict[str, float] = {}
        self.tokens_seen = 0.0
        self._log = self._wandb = self._bar = None
        self._bar_pos = start_step
        self._emit = lambda record: emit(config, record)
        if rank != 0:
            return
        self._log = MetricsLog(config["metrics_path"])
        # A restart resumes from a checkpoint at ``start_step``: later lines are replayed.
        self._log.truncate_after(start_step)
        self.tokens_seen = _tokens_so_far(config["metrics_path"])
        if config.get("wandb"):
            settings = WandbSettings(**config["wandb"])
            self._wandb = WandbRun(settings, {**config.get("meta", {}),
                                              **(config.get("wandb_config") or {}),
                                              "world_rank": rank})
        self._bar = _progress_bar(self.total_steps, start_step) if config.get("progress", True) else None

    def record(self, pos, metrics: dict[str, float], *, lr: float) -> None:
        self.tokens_seen += metrics.pop("tokens")
        self.last = {k: round(v, 6) for k, v in metrics.items()}
        self.last.update(lr=lr, tokens_seen=int(self.tokens_seen))
        if self.rank != 0:
            return
        record = {"step": pos.step, "epoch": pos.epoch, **self.last, "time": round(time.time(), 3)}
        self._log.append(record)
        self._emit(record)
        if self._wandb is not None:
            self._wandb.log(
                {k: v for k, v in record.items() if k not in ("step", "time")}, step=pos.step
            )
        if self._bar is not None:
            self._bar.update(pos.step - self._bar_pos)
            self._bar_pos = pos.step
            self._bar.set_description(
                f"pretrain loss {self.last.get('loss', float('nan')):.4f} "
                f"{self.last.get('tokens_per_s', 0):.0f} tok/s"
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._wandb is not None:
            self._wandb.summary(self.last)
            self._wandb.finish()


def _tokens_so_far(path) -> float:
    from uer_ray.tracking import read_metrics

    records = read_metrics(path)
    return float(records[-1].get("tokens_seen", 0)) if records else 0.0


def _progress_bar(total: int, start: int) -> DriverBar | None:
    """A bar that the Ray driver draws (worker output would interleave with Ray's log lines)."""
    try:
        from ray.experimental.tqdm_ray import tqdm
    except ImportError:
        return None
    bar = DriverBar(tqdm(total=total, desc="pretrain", unit="step"))
    if start:
        bar.update(start)
    return bar


def _plain_print(*objects, sep: str | None = " ", end: str | None = "\n", file=None, flush=False):
    stream = sys.stdout if file is None else file
    stream.write((" " if sep is None else sep).join(map(str, objects)) + ("\n" if end is None else end))
    if flush:
        stream.flush()


class DriverBar:
    """A ``ray.experimental.tqdm_ray`` bar whose state lines reach the driver once.

    The bar sends its state to the driver as a line on stdout, written with ``print``. Ray Train
    patches ``print`` in its workers to log through the root logger *and* copy to stdout, so
    every state line arrived twice: the duplicate of the final "closed" line re-created the
    closed bar on the driver, which then redrew it (with a growing elapsed time) under every
    later log line of the process. The bar's calls here use a plain ``print`` instead."""

    def __init__(self, bar):
        self._bar = bar

    def _plain(self, method: str, *args) -> None:
        patched = builtins.print
        builtins.print = _plain_print
        try:
            getattr(self._bar, method)(*args)
        finally:
            builtins.print = patched

    def update(self, n: int) -> None:
        self._plain("update", n)

    def set_description(self, desc: str) -> None:
        self._plain("set_description", desc)

    def close(self) -> None:
        self._plain("close")
