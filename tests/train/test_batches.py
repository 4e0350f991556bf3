"""The in-memory batch stream (``--cache-data``): every row once per epoch, a new seeded order
each epoch, and a resumed position that replays exactly the batches (and masking) that an
uninterrupted stream gives from there. No Ray needed: a stand-in shard yields numpy batches."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from uer_ray.data import Collator, MaskingConfig
from uer_ray.errors import UerRayError
from uer_ray.train.batches import ShardAhead, StreamConfig, micro_batches
from uer_ray.train.state import Position


class FakeShard:
    """What ``get_dataset_shard`` returns, as far as the cached stream uses it."""

    def __init__(self, rows: int):
        rng = np.random.default_rng(0)
        self.ids = np.empty(rows, dtype=object)
        for i in range(rows):
            self.ids[i] = np.concatenate(
                [[2, 1000 + i], rng.integers(5, 99, size=rng.integers(3, 9))]
            )
        self.reads = 0

    def iter_batches(self, *, batch_size, batch_format, prefetch_batches):
        assert batch_format == "numpy"
        self.reads += 1
        for start in range(0, len(self.ids), batch_size):
            yield {"input_ids": self.ids[start : start + batch_size]}


def _collator() -> Collator:
    return Collator(
        0,
        masking=MaskingConfig(),
        vocab_size=100,
        special_ids={"pad": 0, "cls": 2, "sep": 3, "mask": 4},
        seed=5,
        rank=1,
    )


def _take(shard, position: Position, n: int, cfg: StreamConfig):
    stream = micro_batches(shard, _collator(), position, cfg, rank=1)
    return list(itertools.islice(stream, n))


def _row_ids(batch) -> list[int]:
    # column 1 holds the row's identity (1000 + row index), unless it was masked
    return batch["input_ids"][:, 1].tolist()


def test_each_epoch_is_a_new_permutation_of_all_rows():
    shard, cfg = FakeShard(50), StreamConfig(batch_size=8, seed=3, shuffle_buffer=1, cache=True)
    got = _take(shard, Position(), 12, cfg)
    assert shard.reads == 1  # read once, replayed from memory
    assert [(e, n) for e, n, _ in got] == [(0, k) for k in range(1, 7)] + [
        (1, k) for k in range(1, 7)
    ]
    labels = [b["mlm_labels"] for _, _, b in got]
    ids = [
        np.where(lab[:, 1] >= 0, lab[:, 1], b["input_ids"][:, 1])
        for lab, (_, _, b) in zip(labels, got, strict=True)
    ]
    epoch0, epoch1 = np.concatenate(ids[:6]).tolist(), np.concatenate(ids[6:]).tolist()
    assert len(set(epoch0)) == 48 and set(epoch0) <= set(range(1000, 1050))  # 2 rows dropped
    assert epoch0 != epoch1 and len(set(epoch1)) == 48


def test_resumed_position_replays_the_same_batches_and_masks():
    cfg = StreamConfig(batch_size=8, seed=3, shuffle_buffer=1, cache=True)
    full = _take(FakeShard(50), Position(), 10, cfg)
    resumed = _take(
        FakeShard(50), Position(step=7, epoch=1, batches_in_epoch=1, micro_batches=7), 3, cfg
    )
    for (e1, n1, a), (e2, n2, b) in zip(full[7:], resumed, strict=True):
        assert (e1, n1) == (e2, n2)
        assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_stored_order_without_shuffle_and_too_small_shard():
    cfg = StreamConfig(batch_size=4, seed=3, shuffle_buffer=0, cache=True)
    stream = micro_batches(FakeShard(9), Collator(0), Position(), cfg, rank=0)
    first = [_row_ids(b) for _, _, b in itertools.islice(stream, 3)]
    assert first == [[1000, 1001, 1002, 1003], [1004, 1005, 1006, 1007], [1000, 1001, 1002, 1003]]
    with pytest.raises(UerRayError, match="no full batch"):
        next(micro_batches(FakeShard(3), Collator(0), Position(), cfg, rank=0))


def test_shard_fetched_ahead_gives_the_same_stream_and_its_errors():
    """``ShardAhead`` reads a cached shard on its thread (once); the stream built from what it
    read equals the stream that reads the shard itself. A failure on the thread is raised by
    ``get`` in the training thread."""
    cfg = StreamConfig(batch_size=8, seed=3, shuffle_buffer=1, cache=True)
    shard = FakeShard(50)
    got_shard, rows = ShardAhead(cfg, lambda: shard).get()
    assert got_shard is shard and shard.reads == 1 and len(rows["input_ids"]) == 50
    ahead = list(itertools.islice(
        micro_batches(shard, _collator(), Position(), cfg, rank=1, rows=rows), 8))
    assert shard.reads == 1  # the stream used the rows read ahead
    plain = _take(FakeShard(50), Position(), 8, cfg)
    for (e1, n1, a), (e2, n2, b) in zip(ahead, plain, strict=True):
        assert (e1, n1) == (e2, n2)
        assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    # a streamed shard is handed over unread
    streamed = FakeShard(5)
    assert ShardAhead(StreamConfig(batch_size=8, seed=3), lambda: streamed).get() == (streamed, None)
    assert streamed.reads == 0

    def broken():
        raise KeyError("train")

    with pytest.raises(KeyError, match="train"):
        ShardAhead(cfg, broken).get()
