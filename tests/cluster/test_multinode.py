"""Pre-training on real multi-node Ray clusters started on this machine (DESIGN §10), driven
the way a user drives a cluster: ``ray job submit --working-dir`` of ``python run.py pretrain``.

* job submission: a head with no CPUs plus two worker nodes; the two DDP workers run on the two
  worker nodes and the run ends with ``final/``;
* a worker node killed mid-run (SIGKILL of its whole process group) and a new one added: the run
  resumes from its last checkpoint on the new capacity, with no step lost or logged twice;
* autoscaling with Ray's fake multi-node provider (``cluster/local/fake-autoscaler.yaml``): from
  0 worker nodes to 2 for a 2-worker run, and back to 0 once they are idle;
* an elastic run (``--workers 1-2``) that starts on one node and grows to two workers when a
  second node joins;
* a search whose concurrent trials run on two worker nodes, publishing its winner to a zoo on
  the S3 store.

Checkpoints (``--storage``) and the zoo (``--zoo``) go to a real S3-compatible server on loopback
(``tests/s3_server.py``); the nodes get its credentials from the environment, as cloud nodes get
theirs from an instance profile.

Each node offers 3 logical CPUs and each training worker takes 2 (``--cpus-per-worker 2``): two
workers cannot share a node, so the run really spans two nodes, and every node keeps a whole CPU
for Ray Data's read tasks. All nodes share this machine's disk, so ``--out`` can be a local path
here (a real cluster needs ``s3://``, ``gs://`` or a shared filesystem). Run with

    UER_RAY_CLUSTER_TESTS=1 bash scripts/test.sh tests/cluster -m cluster
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import SAMPLE_CORPUS
from multinode import REPO, LocalCluster
from processes import group_members
from s3_server import s3_server  # noqa: F401  (the session-scoped fixture)

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


ATTACHED = "Attaching to the Ray cluster at"
PRINT_ADDRESS = ("import ray; from uer_ray.cluster import ensure_ray; import sys; "
                 "ensure_ray(sys.argv[1] if len(sys.argv) > 1 else None); "
                 "print('GCS', ray.get_runtime_context().gcs_address)")


def test_commands_attach_to_a_running_ray_start_cluster(tmp_path, stopwatch):
    """A cluster left running by `ray start` on this machine is joined without being named
    (Ray's own lookup, token authentication from the user's token), a real command works on
    it, and `--address local` / UER_RAY_ATTACH=0 still embed a private cluster."""
    with LocalCluster(name="attach") as c:
        c.start_head(num_cpus=4, own_temp=False)
        # `ray start --block` records the address for drivers after the node is up
        current = c.root / "ray" / "ray_current_cluster"
        c.wait_until(current.exists, 30, "the head to record its address")
        stopwatch.lap("start head")
        env = c.env()
        for key in ("RAY_AUTH_MODE", "UER_RAY_ATTACH"):  # as in a user's shell
            env.pop(key, None)

        def driver(*argv: str, **extra: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, *argv], cwd=REPO, env={**env, **extra},
                                  capture_output=True, text=True, timeout=300)

        joined = driver("-c", PRINT_ADDRESS)
        assert joined.returncode == 0, joined.stderr[-3000:]
        assert f"GCS {c.address}" in joined.stdout
        assert f"{ATTACHED} {c.address}" in joined.stderr
        stopwatch.lap("attach")

        shards, vocab = tmp_path / "shards", tmp_path / "vocab.txt"
        made = driver("run.py", "vocab", "--corpus", str(SAMPLE_CORPUS), "--tokenizer", "char",
                      "--size", "3000", "--out", str(vocab))
        assert made.returncode == 0, made.stderr[-3000:]
        pre = driver("run.py", "preprocess", "--corpus", str(SAMPLE_CORPUS), "--processor", "mlm",
                     "--tokenizer", "char", "--vocab", str(vocab), "--seq-length", "64",
                     "--no-progress", "--out", str(shards))
        assert pre.returncode == 0, pre.stderr[-3000:]
        assert ATTACHED in pre.stderr and (shards / "manifest.json").exists()
        stopwatch.lap("preprocess on the attached cluster")

        for private in (driver("-c", PRINT_ADDRESS, "local"),
                        driver("-c", PRINT_ADDRESS, UER_RAY_ATTACH="0")):
            assert private.returncode == 0, private.stderr[-3000:]
            assert ATTACHED not in private.stderr
            assert "GCS " in private.stdout and f"GCS {c.address}" not in private.stdout
        stopwatch.lap("two embedded clusters beside it")


def s3_keys(server, bucket: str, prefix: str) -> list[str]:
    import pyarrow.fs as pafs

    fs = server.filesystem()
    found = fs.get_file_info(pafs.FileSelector(f"{bucket}/{prefix}", recursive=True, allow_not_found=True))
    return [f.path.removeprefix(f"{bucket}/{prefix}/") for f in found if f.type == pafs.FileType.File]


def test_job_submission_head_plus_two_workers(cluster_inputs, s3_server, tmp_path, stopwatch):  # noqa: F811
    """Checkpoints on S3 (``--storage``), the final model published to a zoo on S3, and read
    back from there by ``finetune --init zoo:...`` off the cluster."""
    out, prefix = tmp_path / "run", f"job-{secrets.token_hex(4)}"
    s3_server.make_bucket("runs")
    s3_server.make_bucket("zoo")
    storage, zoo = s3_server.uri("runs", prefix), s3_server.uri("zoo", prefix)
    with LocalCluster(name="job") as c:
        c.start_head()
        c.add_worker(num_cpus=NODE_CPUS)
        c.add_worker(num_cpus=NODE_CPUS)
        stopwatch.lap("cluster up")
        argv = [*pretrain(cluster_inputs, out, steps=20), "--storage", storage,
                "--publish", "tiny-bert-cluster", "--zoo", zoo]
        job = c.wait_job(c.submit(argv, excludes=EXCLUDES), JOB_TIMEOUT)
        stopwatch.lap("job")
        assert_finished(job, out, steps=20)
        nodes = worker_nodes_of_training(c)
        ids = c.node_ids()
        assert len(nodes) == 2 and set(nodes) == {ids["w1"], ids["w2"]}, (nodes, ids)
    assert not (out / "ray").exists()  # every checkpoint went to the bucket
    keys = s3_keys(s3_server, "runs", prefix)
    for step in (10, 20):
        assert f"pretrain/checkpoint_{step:08d}/model/model.safetensors" in keys, keys
    assert any(k.startswith("tiny-bert-cluster/versions/") and k.endswith("model.safetensors")
               for k in s3_keys(s3_server, "zoo", prefix))
    from uer_ray.zoo import Zoo

    store = Zoo(zoo)
    (version,) = store.versions("tiny-bert-cluster")
    entry = f"tiny-bert-cluster@{version}"
    assert f"Published to the zoo as {entry}" in job.logs
    assert store.verify(entry) == []
    stopwatch.lap("checks")

    samples = REPO / "uer_ray" / "samples" / "book_review"
    ft = tmp_path / "ft"
    done = subprocess.run(
        [sys.executable, "run.py", "finetune", "--task", "classify", "--init", "zoo:tiny-bert-cluster@latest",
         "--zoo", zoo, "--train", str(samples / "train.tsv"), "--dev", str(samples / "dev.tsv"),
         "--out", str(ft), "--epochs", "1", "--batch-size", "32", "--seq-length", "64",
         "--device", "cpu", "--quiet", "--wandb-mode", "disabled"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**c.env(), "UER_RAY_CACHE": str(tmp_path / "cache")})  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    parent = json.loads((ft / "metrics.json").read_text())["parent"]
    assert parent["zoo"] == entry, parent
    stopwatch.lap("finetune --init zoo: from S3")


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


def test_elastic_run_grows_when_a_node_joins(cluster_inputs, tmp_path, stopwatch):
    """``--workers 1-2``: one node of 3 CPUs holds one 2-CPU worker; the run starts with it, and
    once a second node joins, Ray Train restarts it from its latest checkpoint with 2 workers."""
    out, steps = tmp_path / "run", 80
    argv = pretrain(cluster_inputs, out, steps=steps)
    argv[argv.index("--workers") + 1] = "1-2"
    argv += ["--resize-interval", "2"]
    with LocalCluster(name="elastic") as c:
        c.start_head()
        c.add_worker(num_cpus=NODE_CPUS)
        stopwatch.lap("cluster up (1 worker node)")
        job = c.submit(argv, excludes=EXCLUDES)
        c.wait_until(lambda: logged_steps(out)[-1:] >= [10] or c.job_status(job) in ("FAILED", "SUCCEEDED"),
                     JOB_TIMEOUT, "step 10 on one worker")
        assert c.job_status(job) not in ("FAILED", "SUCCEEDED"), c.job_logs(job)[-4000:]
        stopwatch.lap("first steps on 1 worker")
        c.add_worker(num_cpus=NODE_CPUS)
        stopwatch.lap("second node joined")
        job = c.wait_job(job, JOB_TIMEOUT)
        stopwatch.lap("rest of the job")
    assert job.status == "SUCCEEDED", job.logs[-4000:]
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x.strip()]
    assert [r["step"] for r in lines] == sorted({r["step"] for r in lines}) and lines[-1]["step"] == steps
    sizes = [r["workers"] for r in lines]
    assert sizes[0] == 1 and sizes[-1] == 2 and sizes == sorted(sizes), sizes  # it grew, once
    results = json.loads((out / "metrics.json").read_text())["results"]
    assert results["world_sizes"] == [1, 2] and results["workers"] == 2
    # a line's counters are summed over the workers that trained it: tokens grow faster at 2
    grown = [r for r in lines if r["workers"] == 2]
    assert grown[0]["effective_batch_size"] == 2 * lines[0]["effective_batch_size"]
    assert all(b["tokens_seen"] > a["tokens_seen"] for a, b in zip(lines, lines[1:], strict=False))


def search_space(folder: Path, *, stage2: bool = False) -> Path:
    """Four fine-tuning trials (two encoders x two learning rates) on the bundled reviews; with
    ``stage2``, two LSTM trials that share one stage-2 ``lm`` run."""
    samples = REPO / "uer_ray" / "samples" / "book_review"
    lstm = {"embedding": ["word"], "encoder": "lstm", "targets": {"lm": 1.0}, "emb_size": 32,
            "hidden_size": 32, "layers": 1, "max_seq_length": 64, "dropout": 0.0,
            "embedding_options": {"layernorm": False, "init_std": 1.0}}
    cnn = {**lstm, "encoder": "gatedcnn", "layers": 2,
           "encoder_options": {"gatedcnn": {"kernel_size": 3, "block_size": 1}}}
    space = {
        "name": "cluster-stage2" if stage2 else "cluster", "task": "classify", "dataset": "book_review",
        "data": {"train": str(samples / "train.tsv"), "dev": str(samples / "dev.tsv"),
                 "test": str(samples / "test.tsv"), "rows": {"train": 600, "dev": 200}},
        "vocabulary": {"tokenizer": "char", "size": 3000},
        "encoders": {"lstm": {"model": lstm, "lr": {"choice": [3e-3, 1e-2]}, "targets": ["none"]},
                     "gatedcnn": {"model": cnn, "lr": {"choice": [1e-3, 3e-3]}, "targets": ["none"]}},
        "finetune": {"epochs": 2, "batch_size": 32, "seq_length": 64},
        "budget": {"searcher": "grid", "scheduler": "fifo", "max_concurrent": 2, "publish_top": 1},
    }
    if stage2:
        del space["encoders"]["gatedcnn"]
        space["encoders"]["lstm"]["targets"] = ["lm"]
        space["targets"] = {"lm": {"lm": 1.0}}
        space["stage2"] = {"corpus": str(samples / "train.tsv"), "format": "cls", "rows": 600,
                           "seq_length": 64, "steps": 12, "batch_size": 16, "lr": 3e-3, "workers": 1}
    path = folder / f"{space['name']}.yaml"
    path.write_text(yaml.safe_dump(space, sort_keys=False), encoding="utf-8")
    return path


def test_search_across_two_worker_nodes(s3_server, tmp_path, stopwatch, monkeypatch):  # noqa: F811
    """``ray job submit`` of searches whose folder is on S3 (``--out s3://``): the concurrent
    trials of the first run on the two worker nodes (each node fits one trial's share); every
    process works in its own mirror of the store (one per node, none shared through a disk), the
    trials' models, Tune's experiment and the results land in the bucket, the winner goes to the
    zoo on S3, and ``report`` reads the search back from the bucket. The second search shares
    one stage-2 run between its trials through the store, and publishes it as the parent."""
    from uer_ray.report.build import gather
    from uer_ray.tune.home import SearchHome
    from uer_ray.zoo import Zoo

    prefix = f"search-{secrets.token_hex(4)}"
    s3_server.make_bucket("zoo")
    s3_server.make_bucket("runs")
    zoo, out = s3_server.uri("zoo", prefix), s3_server.uri("runs", prefix)
    cache = tmp_path / "cache"  # every node's mirror of the store is under it, and the test's
    monkeypatch.setenv("UER_RAY_CACHE", str(cache))
    with LocalCluster(name="search", env={"UER_RAY_CACHE": str(cache)}) as c:
        c.start_head()
        c.add_worker(num_cpus=NODE_CPUS)
        c.add_worker(num_cpus=NODE_CPUS)
        stopwatch.lap("cluster up")
        argv = ["python", "run.py", "search", "--space", str(search_space(tmp_path)), "--out", out,
                "--zoo", zoo, "--wandb-mode", "disabled"]
        job = c.wait_job(c.submit(argv, excludes=EXCLUDES), JOB_TIMEOUT)
        stopwatch.lap("search job")
        assert job.status == "SUCCEEDED", job.logs[-4000:]
        ids = c.node_ids()
        trial_nodes = {a["node_id"] for a in c.actors("ImplicitFunc")}
        assert trial_nodes == {ids["w1"], ids["w2"]}, (trial_nodes, ids)
        out2 = s3_server.uri("runs", prefix + "-stage2")
        argv = ["python", "run.py", "search", "--space", str(search_space(tmp_path, stage2=True)),
                "--out", out2, "--zoo", zoo, "--wandb-mode", "disabled"]
        job2 = c.wait_job(c.submit(argv, excludes=EXCLUDES), JOB_TIMEOUT)
        stopwatch.lap("stage-2 search job")
        assert job2.status == "SUCCEEDED", job2.logs[-4000:]

    keys = s3_keys(s3_server, "runs", prefix)
    home = SearchHome(out)
    record = json.loads(home.read_bytes("metrics.json"))
    board = record["results"]["leaderboard"]
    assert len(board) == 4 and {r["status"] for r in board} == {"finished"}, board
    for row in board:  # every finished trial's model is in the bucket
        assert f"trials/{row['trial']}/finetune/model.safetensors" in keys, row
    assert {"search.json", "leaderboard.md", "leaderboard.csv", "vocab.txt"} <= set(keys)
    assert any(k.startswith("tune/") for k in keys) and any(k.startswith("data/") for k in keys)
    assert record["checkpoint"].startswith(f"s3://runs/{prefix}/trials/")
    winner = json.loads(home.read_bytes("trials", record["results"]["winner"]["trial_id"], "finetune",
                                        "metrics.json"))
    assert winner["results"]["test"] == record["results"]["test"]  # scored, and pushed back
    mirrors = sorted(p.name for p in home.local().parent.iterdir())
    assert mirrors == sorted(["driver", f"node-{ids['w1'][:12]}", f"node-{ids['w2'][:12]}"]), mirrors
    (published,) = record["results"]["published"]
    store = Zoo(zoo)
    assert store.verify(published["entry"]) == []
    collected = gather([out])  # report, from the bucket
    assert len(collected.trials) == 4 and collected.record["results"]["winner"] == record["results"]["winner"]

    keys2 = s3_keys(s3_server, "runs", prefix + "-stage2")
    record2 = json.loads(SearchHome(out2).read_bytes("metrics.json"))
    assert {r["status"] for r in record2["results"]["leaderboard"]} == {"finished"}
    stage2 = {k.split("/")[1] for k in keys2 if k.startswith("stage2/")}
    assert len(stage2) == 1, stage2  # one shared run, trained once
    (key,) = stage2
    assert {f"stage2/{key}/metrics.json", f"stage2/{key}/final/model.safetensors"} <= set(keys2)
    assert any(k.startswith(f"ray/stage2-{key}/") for k in keys2)  # its Ray Train storage
    (published2,) = record2["results"]["published"]
    lineage = store.lineage(published2["entry"])
    assert [e["kind"] for e in lineage] == ["pre-trained", "fine-tuned"], lineage
    assert published2["parent"] == f"{lineage[0]['name']}@{lineage[0]['version']}"
    stopwatch.lap("checks")
