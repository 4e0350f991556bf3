"""Pre-training on real multi-node Ray clusters started on this machine (DESIGN §10), driven
the way a user drives a cluster: ``ray job submit --working-dir`` of ``python run.py pretrain``.

* job submission: a head with no CPUs plus two worker nodes; the two DDP workers run on the two
  worker nodes and the run ends with ``final/``;
* a worker node killed mid-run (SIGKILL of its whole process group) and a new one added: the run
  resumes from its last checkpoint on the new capacity, with no step lost or logged twice;
* autoscaling with Ray's fake multi-node provider (``cluster/local/fake-autoscaler.yaml``): from
  0 worker nodes to 2 for a 2-worker run, and back to 0 once they are idle.

Each node offers 3 logical CPUs and each training worker takes 2 (``--cpus-per-worker 2``): two
workers cannot share a node, so the run really spans two nodes, and every node keeps a whole CPU
for Ray Data's read tasks. All nodes share this machine's disk, so ``--out`` can be a local path
here (a real cluster needs ``s3://``, ``gs://`` or a shared filesystem). Run with

    UER_RAY_CLUSTER_TESTS=1 bash scripts/test.sh tests/cluster -m cluster
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from multinode import REPO, LocalCluster
from processes import group_members

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

NODE_CPUS = 3
EXCLUDES = ["tests/", "bench/", "docs/", "cluster/"]
JOB_TIMEOUT = 900


def pretrain(inputs: dict, out: Path, steps: int, save_every: int = 10) -> list[str]:
    """The user's command: 2 DDP workers of 2 CPUs each, a tiny BERT on the sample shards."""
    return [
        "python", "run.py", "pretrain", "--model", str(inputs["model"]),
        "--data", str(inputs["shards"]), "--out", str(out),
        "--workers", "2", "--cpus-per-worker", "2", "--steps", str(steps),
        "--save-every", str(save_every), "--log-every", "5", "--batch-size", "16",
        "--wandb-mode", "disabled",
    ]  # fmt: skip


def logged_steps(out: Path) -> list[int]:
    path = out / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["step"] for line in path.read_text().splitlines() if line.strip()]


def assert_finished(job, out: Path, steps: int) -> None:
    """The job succeeded and left a loadable final model and complete metrics."""
    from uer_ray import load_model

    assert job.status == "SUCCEEDED", job.logs[-4000:]
    assert logged_steps(out) == list(range(5, steps + 1, 5))
    summary = json.loads((out / "metrics.json").read_text())
    summary = summary.get("results", summary)  # the result record (docs/contracts.md) nests them
    assert summary["steps"] == steps and summary["workers"] == 2
    meta = json.loads((out / "final" / "meta.json").read_text())
    assert meta["step"] == steps
    load_model(out / "final")


def worker_nodes_of_training(cluster: LocalCluster) -> list[str]:
    """Node ids of every training worker the run started (dead ones included)."""
    return [a["node_id"] for a in cluster.actors("RayTrainWorker")]


def test_harness_starts_and_stops_only_its_own_processes(stopwatch):
    with LocalCluster(name="harness") as c:
        c.start_head()
        worker = c.add_worker(num_cpus=1)
        stopwatch.lap("start head + 1 worker")
        head = next(n for n in c.alive_nodes() if n["is_head_node"])
        assert head["resources_total"].get("CPU", 0) == 0
        comms = {Path(f"/proc/{pid}/comm").read_text().strip() for pid in c.leftovers()}
        assert {"raylet", "gcs_server"} <= comms  # the marker sweep sees Ray's own processes
        c.kill(worker)
        assert group_members(worker.proc.pid) == []
        c.wait_for_nodes(1, 90)
        stopwatch.lap("kill worker, head notices")
        forced = c.stop()
        stopwatch.lap("stop")
        assert c.leftovers() == [], f"left behind: {c.leftovers()} (forced: {forced})"


def test_job_submission_head_plus_two_workers(cluster_inputs, tmp_path, stopwatch):
    out = tmp_path / "run"
    with LocalCluster(name="job") as c:
        c.start_head()
        c.add_worker(num_cpus=NODE_CPUS)
        c.add_worker(num_cpus=NODE_CPUS)
        stopwatch.lap("cluster up")
        job = c.wait_job(c.submit(pretrain(cluster_inputs, out, steps=20), excludes=EXCLUDES), JOB_TIMEOUT)
        stopwatch.lap("job")
        assert_finished(job, out, steps=20)
        nodes = worker_nodes_of_training(c)
        ids = c.node_ids()
        assert len(nodes) == 2 and set(nodes) == {ids["w1"], ids["w2"]}, (nodes, ids)


def test_killed_node_resumes_from_checkpoint_on_a_new_node(cluster_inputs, tmp_path, stopwatch):
    out, steps = tmp_path / "run", 60
    with LocalCluster(name="kill") as c:
        c.start_head()
        nodes = {n.name: n for n in (c.add_worker(num_cpus=NODE_CPUS) for _ in range(2))}
        stopwatch.lap("cluster up")
        job = c.submit(pretrain(cluster_inputs, out, steps=steps), excludes=EXCLUDES)
        first = out / "ray" / "pretrain" / "checkpoint_00000010"
        c.wait_until(lambda: first.exists() or c.job_status(job) in ("FAILED", "SUCCEEDED"), JOB_TIMEOUT, "a checkpoint")
        assert first.exists(), c.job_logs(job)[-4000:]
        stopwatch.lap("first checkpoint")
        ids = c.node_ids()
        running = {a["node_id"] for a in c.actors("RayTrainWorker") if a["state"] == "ALIVE"}
        victim = next(name for name, node_id in ids.items() if node_id in running)
        at_kill = logged_steps(out)
        c.kill(nodes[victim])
        assert group_members(nodes[victim].proc.pid) == []
        replacement = c.add_worker(num_cpus=NODE_CPUS)
        stopwatch.lap("kill + replacement joined")
        c.wait_job(job, JOB_TIMEOUT)
        stopwatch.lap("rest of the job")
        assert at_kill and at_kill[-1] < steps, at_kill  # the kill came mid-run
        assert_finished(job, out, steps)  # 5, 10, ..., 60: nothing lost, nothing twice
        training = worker_nodes_of_training(c)
        assert len(training) >= 4, training  # a second worker group was started
        assert c.node_ids()[replacement.name] in training  # ... partly on the new node
        assert "RETRY" in job.logs  # Ray Train's failure policy restarted the run


def test_autoscaling_from_zero_workers_and_back(cluster_inputs, tmp_path, stopwatch):
    out = tmp_path / "run"
    config = REPO / "cluster" / "local" / "fake-autoscaler.yaml"
    with LocalCluster(name="auto") as c:
        c.start_head(autoscaling_config=config)
        time.sleep(3)  # a few autoscaler rounds: min_workers 0 keeps the cluster empty
        assert c.worker_nodes() == []
        stopwatch.lap("head up")
        job = c.submit(pretrain(cluster_inputs, out, steps=20), excludes=EXCLUDES)
        peak, scaled_at, started = 0, None, time.monotonic()
        while c.job_status(job) not in ("SUCCEEDED", "FAILED", "STOPPED"):
            count = len(c.worker_nodes())
            if count >= 2 and scaled_at is None:
                scaled_at = time.monotonic() - started
            peak = max(peak, count)
            assert time.monotonic() - started < JOB_TIMEOUT, "job did not end"
            time.sleep(1)
        ended = time.monotonic()
        stopwatch.parts["submit to 2 nodes"] = scaled_at or float("nan")
        stopwatch.lap("job")
        c.wait_for_nodes(0, 180, workers_only=True)  # idle nodes are terminated
        stopwatch.parts["job end to 0 worker nodes"] = time.monotonic() - ended
        c.wait_job(job, 60)
        assert_finished(job, out, steps=20)
        assert peak == 2, peak
