"""The shared Ray Train driver: worker sizing, data sharding, checkpoints kept, metrics returned."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pytest
from ray import cloudpickle

from uer_ray.errors import UerRayError
from uer_ray.train.driver import RunSpec, WorkerSpec, cpus_per_worker, fit, has_run, run_folder

# Test modules are not importable inside Ray workers: ship this module's functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def test_cpus_leave_room_for_data():
    # embedded cluster: 4 logical CPUs; two 1-CPU workers still leave 2 for Ray Data
    assert cpus_per_worker(WorkerSpec(workers=2), 4, streams_data=True) == 1.0
    # a plain 2-CPU cluster: two workers must share one CPU, one stays free for read tasks
    assert cpus_per_worker(WorkerSpec(workers=2), 2, streams_data=True) == 0.5
    assert cpus_per_worker(WorkerSpec(workers=3), 2, streams_data=True) == 0.33
    assert cpus_per_worker(WorkerSpec(workers=2), 2, streams_data=False) == 1.0
    assert cpus_per_worker(WorkerSpec(workers=2, cpus_per_worker=0.25), 2, True) == 0.25
    with pytest.raises(UerRayError, match="not enough"):
        cpus_per_worker(WorkerSpec(workers=1), 1, streams_data=True)


def _loop(config):
    import os

    import ray.train
    import torch
    import torch.distributed as dist
    from ray.train import Checkpoint

    ctx = ray.train.get_context()
    rows = 0
    for batch in ray.train.get_dataset_shard("train").iter_batches(batch_size=8):
        rows += len(batch["id"])
    total = torch.tensor([rows])
    dist.all_reduce(total)  # the process group is up (gloo)
    for step in range(3):
        ckpt = None
        if ctx.get_world_rank() == 0:
            d = tempfile.mkdtemp()
            with open(os.path.join(d, "state.json"), "w") as f:
                json.dump({"step": step}, f)
            ckpt = Checkpoint.from_directory(d)
        ray.train.report(
            {
                "step": step,
                "rows": int(total),
                "threads": torch.get_num_threads(),
                "flush": torch.set_flush_denormal(True),
            },
            checkpoint=ckpt,
        )


@pytest.mark.ray
def test_fit_two_workers(ray_session, tmp_path):
    import ray

    result = fit(
        _loop,
        {},
        run=RunSpec(out_dir=tmp_path, name="drv", keep_checkpoints=2, max_failures=0),
        workers=WorkerSpec(workers=2),
        datasets={"train": ray.data.range(40)},
    )
    assert result.error is None
    assert result.metrics["step"] == 2 and result.metrics["rows"] == 40
    assert result.metrics["threads"] >= 1
    kept = [p for p in run_folder(tmp_path, "drv").glob("checkpoint_*") if p.is_dir()]
    assert len(kept) == 2  # keep-last-K
    with result.checkpoint.as_directory() as d:
        assert json.loads((Path(d) / "state.json").read_text()) == {"step": 2}
    assert has_run(tmp_path, "drv")
