"""Metrics of a training run, on the workers: averaged over a logging window and over workers,
then sent by world rank 0 to the driver (``WorkerLink.emit``), which writes ``metrics.jsonl`` and
W&B (``uer_ray.train.runlog``), and drawn as a progress bar."""

from __future__ import annotations

import builtins
import sys
import time
from collections import defaultdict

import torch

from uer_ray.train.runlog import RESTART


class Window:
    """Sums of per-micro-batch metrics since the last log line, on one worker."""

    def __init__(self):
        self.sums: dict[str, float] = defaultdict(float)
        self.batches = 0
        self.tokens = 0
        self.rows = 0
        self.started = time.perf_counter()

    def add(self, metrics: dict[str, float], tokens: int, rows: int = 0) -> None:
        for k, v in metrics.items():
            self.sums[k] += v
        self.batches += 1
        self.tokens += tokens
        self.rows += rows

    def reduce(self, world: int) -> dict[str, float]:
        """Means over micro-batches and workers (counts are summed), plus the window's tokens
        and rows and tokens/s of the whole run. One all-reduce of one small vector; every worker
        must call it."""
        keys = sorted(self.sums)
        values = torch.tensor(
            [self.sums[k] for k in keys] + [self.batches, self.tokens, self.rows],
            dtype=torch.float64,
        )
        if world > 1:
            import torch.distributed as dist

            dist.all_reduce(values)
        *sums, batches, tokens, rows = values.tolist()
        elapsed = max(1e-9, time.perf_counter() - self.started)
        out = {}
        for k, v in zip(keys, sums, strict=True):
            out[k] = v if k.endswith("/count") else v / max(1.0, batches)
        out["tokens"] = tokens
        out["rows"] = rows
        out["tokens_per_s"] = tokens / elapsed
        return out


class RankZeroLog:
    """The run's log lines. Every rank adds the window's tokens and rows to the position's
    counters (the values are the same after the all-reduce, and they travel in checkpoints) and
    keeps ``last``; world rank 0 sends each line to the driver and draws the progress bar.

    Its first record tells the driver where this worker group starts (``restart_from``): a
    restart continues from a checkpoint, and the driver drops the lines it holds after that
    step, in order with the lines that follow."""

    def __init__(self, spec, link, rank: int, world: int, pos):
        self.rank, self.world = rank, world
        self.total_steps = spec.schedule.steps
        self.per_step = spec.rows_per_step * world
        self.last: dict[str, float] = {}
        self._bar = None
        self._bar_pos = pos.step
        self._emit = link.emit
        if rank != 0:
            return
        self._emit({RESTART: pos.step, "workers": world})
        self._bar = _progress_bar(self.total_steps, pos.step) if spec.progress else None

    def record(self, pos, metrics: dict[str, float], *, lr: float) -> None:
        pos.tokens_seen += int(metrics.pop("tokens"))
        pos.sequences_seen += int(metrics.pop("rows"))
        self.last = {k: round(v, 6) for k, v in metrics.items()}
        self.last.update(lr=lr, tokens_seen=pos.tokens_seen, sequences_seen=pos.sequences_seen,
                         workers=self.world, effective_batch_size=self.per_step)
        if self.rank != 0:
            return
        self._emit({"step": pos.step, "epoch": pos.epoch, **self.last, "time": round(time.time(), 3)})
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
