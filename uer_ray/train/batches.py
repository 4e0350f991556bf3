"""The stream of training batches one worker sees: its Ray Data shard, epoch after epoch.

Each epoch re-executes the streaming read (files in a new order, see ``pretrain.build_dataset``)
and shuffles rows locally in a buffer seeded by (seed, rank, epoch). Batches are collated and
masked by the data package's ``Collator``, whose random stream depends only on (seed, rank,
batch index): a run that resumes at a position sees exactly the batches it would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from uer_ray.errors import UerRayError
from uer_ray.train.state import Position, step_seed


@dataclass(frozen=True, kw_only=True)
class StreamConfig:
    batch_size: int
    seed: int
    shuffle_buffer: int = 0
    """rows in the local shuffle buffer (0: rows in stored order)"""


def micro_batches(
    shard, collator, position: Position, cfg: StreamConfig, rank: int
) -> Iterator[tuple[int, int, dict[str, torch.Tensor]]]:
    """Yield ``(epoch, batches_in_epoch, batch)`` forever, starting after ``position``.

    The first ``position.batches_in_epoch`` batches of ``position.epoch`` are skipped (they
    were trained on before the checkpoint); the collator's step is set so that every batch gets
    the masking it got the first time. ``prefetch_batches=1`` keeps collation on one thread, in
    order, so that batch ``k`` is always masked with step ``k``.
    """
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
            raise UerRayError(
                f"worker {rank} got no full batch of {cfg.batch_size} rows in epoch {epoch}: "
                "the shards are smaller than one batch per worker; lower --batch-size or --workers"
            )
        epoch, skip, epoch_start = epoch + 1, 0, epoch_start + n
