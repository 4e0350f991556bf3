"""The shared Ray Train driver: worker sizing. (``fit`` itself runs in every pre-training Ray test,
tests/train/test_pretrain.py, which checks checkpoints kept, restarts and resumption.)"""

from __future__ import annotations

import pytest

from uer_ray.errors import UerRayError
from uer_ray.train.driver import WorkerSpec, cpus_per_worker


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


def test_a_trial_budget_sizes_the_workers():
    # a search trial that may use 2 of the cluster's 4 CPUs: its 2 workers share 1, 1 for reads
    spec = WorkerSpec(workers=2, cpus_budget=2)
    assert cpus_per_worker(spec, 4, streams_data=True) == 0.5
    assert cpus_per_worker(spec, 4, streams_data=False) == 1.0
    # a budget above the cluster's total is capped by it
    assert cpus_per_worker(WorkerSpec(workers=2, cpus_budget=16), 4, streams_data=True) == 1.0
    with pytest.raises(UerRayError, match="this run's budget is 1 CPU"):
        cpus_per_worker(WorkerSpec(workers=1, cpus_budget=1), 4, streams_data=True)


def test_a_cluster_without_cpus_asks_for_one_cpu_per_worker(capsys):
    """A CPU-less head whose autoscaler adds nodes on demand: the run asks for what the
    autoscaler should bring (and says so) instead of refusing to start."""
    assert cpus_per_worker(WorkerSpec(workers=2), 0, streams_data=True) == 1.0
    assert "no CPUs yet: asking for 1 CPU per training worker (2 in all)" in capsys.readouterr().out
    with pytest.raises(UerRayError, match="budget is 0 CPU"):  # a trial's share is still a share
        cpus_per_worker(WorkerSpec(workers=1, cpus_budget=2), 0, streams_data=True)


def test_elastic_workers_are_sized_for_their_maximum():
    from uer_ray.train.driver import worker_range

    assert worker_range(WorkerSpec(workers=(1, 4))) == (1, 4)
    assert worker_range(WorkerSpec(workers=3)) == (3, 3)
    assert cpus_per_worker(WorkerSpec(workers=(1, 4)), 4, streams_data=True) == 0.75
