"""The stream of training batches one worker sees: its Ray Data shard, epoch after epoch.

Streaming (any corpus size): each epoch re-executes the streaming read (files in a new order, see
``inputs.build_dataset``) and shuffles rows locally in a buffer seeded by (seed, rank, epoch).

Cached (small corpora, ``--cache-data``): the first epoch reads the worker's shard once into
memory; every epoch then takes the rows in a permutation seeded by (seed, rank, epoch). A Ray
Data execution costs seconds of start-up, which on a corpus of a few thousand rows is more than
the epoch itself (the quickstart's corpus: about 12 s per epoch, 20 epochs).

Either way batches are collated and masked by the data package's ``Collator``, whose random
stream depends only on (seed, rank, batch index): a run that resumes at a position sees exactly
the batches it would have seen.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from uer_ray.errors import UerRayError
from uer_ray.train.state import Position, step_seed


@dataclass(frozen=True, kw_only=True)
class StreamConfig:
    batch_size: int
    seed: int
    shuffle_buffer: int = 0
    """rows in the local shuffle buffer (0: rows in stored order)"""
    cache: bool = False
    """read the shard once and keep it in memory (small corpora)"""


class ShardAhead:
    """The worker's Ray Data shard, fetched on a thread while the model is built.

    ``get_dataset_shard`` has Ray Train's dataset manager start the split coordinator (a new
    process), and a cached stream then reads the whole shard: seconds that otherwise come after
    the model and optimiser are built instead of beside them. ``get()`` waits for the thread and
    returns ``(shard, rows)`` (``rows`` is ``None`` for a streamed shard) or raises its error.
    ``fetch`` returns the shard (default: ``ray.train.get_dataset_shard("train")``).
    """

    def __init__(self, cfg: StreamConfig, fetch: Callable[[], Any] | None = None):
        self._cfg, self._fetch_shard = cfg, fetch or _train_shard
        self._result: tuple | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._fetch, name="uer-ray-shard", daemon=True)
        self._thread.start()

    def _fetch(self) -> None:
        try:
            shard = self._fetch_shard()
            self._result = (shard, read_rows(shard) if self._cfg.cache else None)
        except BaseException as e:  # handed to the training thread by get()
            self._error = e

    def get(self) -> tuple:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result


def _train_shard():
    import ray.train

    return ray.train.get_dataset_shard("train")


def micro_batches(
    shard, collator, position: Position, cfg: StreamConfig, rank: int,
    rows: dict[str, np.ndarray] | None = None,
) -> Iterator[tuple[int, int, dict[str, torch.Tensor]]]:
    """Yield ``(epoch, batches_in_epoch, batch)`` forever, starting after ``position``.

    The first ``position.batches_in_epoch`` batches of ``position.epoch`` are skipped (they
    were trained on before the checkpoint); the collator's step is set so that every batch gets
    the masking it got the first time. ``prefetch_batches=1`` keeps collation on one thread, in
    order, so that batch ``k`` is always masked with step ``k``. ``rows``: the cached shard, when
    it was already read (``ShardAhead``).
    """
    if cfg.cache:
        yield from _cached_batches(shard, collator, position, cfg, rank, rows)
        return
    epoch, skip = position.epoch, position.batches_in_epoch
    epoch_start = position.micro_batches - skip
    from uer_ray.data.collate import RayCollateFn

    collate = RayCollateFn(collator)
    while True:
        collator.step = epoch_start
        shuffle = {}
        if cfg.shuffle_buffer > 0:
            shuffle = {
                "local_shuffle_buffer_size": cfg.shuffle_buffer,
                "local_shuffle_seed": step_seed(cfg.seed, rank, epoch) % (2**31),
            }
        n = 0
        for batch in shard.iter_torch_batches(
            batch_size=cfg.batch_size,
            collate_fn=collate,
            prefetch_batches=1,
            drop_last=True,
            **shuffle,
        ):
            n += 1
            if n > skip:
                yield epoch, n, batch
        if n == 0:
            _too_small(rank, cfg, epoch)
        epoch, skip, epoch_start = epoch + 1, 0, epoch_start + n


def _too_small(rank: int, cfg: StreamConfig, epoch: int):
    raise UerRayError(
        f"worker {rank} got no full batch of {cfg.batch_size} rows in epoch {epoch}: "
        "the shards are smaller than one batch per worker; lower --batch-size or --workers"
    )


def read_rows(shard) -> dict[str, np.ndarray]:
    """The whole shard as columns of rows (object arrays of 1-D arrays for token columns)."""
    parts: dict[str, list[np.ndarray]] = {}
    for batch in shard.iter_batches(batch_size=4096, batch_format="numpy", prefetch_batches=2):
        for k, v in batch.items():
            parts.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in parts.items()}


def _cached_batches(shard, collator, position: Position, cfg: StreamConfig, rank: int, rows=None):
    rows = read_rows(shard) if rows is None else rows
    count = len(next(iter(rows.values()))) if rows else 0
    per_epoch = count // cfg.batch_size
    epoch, skip = position.epoch, position.batches_in_epoch
    if per_epoch == 0:
        _too_small(rank, cfg, epoch)
    collator.step = position.micro_batches
    while True:
        if cfg.shuffle_buffer > 0:
            order = np.random.default_rng(step_seed(cfg.seed, rank, epoch)).permutation(count)
        else:
            order = np.arange(count)
        for n in range(skip + 1, per_epoch + 1):
            pick = order[(n - 1) * cfg.batch_size : n * cfg.batch_size]
            yield epoch, n, collator({k: v[pick] for k, v in rows.items()})
        epoch, skip = epoch + 1, 0
