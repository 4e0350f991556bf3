"""A real search on the shared Ray session: tiny models, a slice of the bundled book reviews.

One search of six trials exercises what the search promises: two trials share one stage-2 run
(trained once), a trial that cannot learn is stopped by ASHA and leaves no placement group or
Train controller behind while the next trials start, a trial whose loss explodes fails twice
and is recorded without stopping the search, the winner is scored on test once and published
to the zoo with its stage-2 parent, and every trial stage has its offline W&B run in the
search's group. A second test kills the search driver (SIGKILL) and resumes it."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from space_helpers import TINY_LSTM, base_space, write_space

from uer_ray.tune.driver import SearchOptions, search

pytestmark = [pytest.mark.ray, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
BEFORE_SEARCH: tuple[set, set] = (set(), set())


def tiny_search_space(folder: Path) -> Path:
    s = base_space(folder)
    s["encoders"] = {
        # two fine-tuning batch sizes, one stage-2 configuration: shared
        "lstm": {"model": copy.deepcopy(TINY_LSTM), "lr": 1e-2, "targets": ["lm"]},
        # the same model and stage 2 with a learning rate too small to learn: ASHA stops it
        "snail": {"model": copy.deepcopy(TINY_LSTM), "lr": 1e-9, "targets": ["lm"]},
        # a learning rate that makes the loss explode: the trial fails, twice
        "unstable": {"model": copy.deepcopy(TINY_LSTM), "lr": 1e7, "targets": ["none"]},
    }
    s["finetune"]["batch_size"] = {"choice": [8, 16]}
    s["budget"].update(searcher="grid", scheduler="asha", max_concurrent=2, grace_period=1)
    return write_space(folder, s)


def _alive_train_state() -> tuple[set, set]:
    """(placement groups not removed, Train controllers alive), from the GCS tables (the
    embedded cluster has no dashboard for the State API)."""
    import ray
    from ray._private.state import actors

    groups = {k for k, g in ray.util.placement_group_table().items() if g["state"] != "REMOVED"}
    controllers = {k for k, a in actors().items() if a["State"] == "ALIVE"
                   and "TrainController" in a.get("ActorClassName", "")}
    return groups, controllers


@pytest.fixture(scope="module")
def finished_search(ray_session, tmp_path_factory):
    global BEFORE_SEARCH
    BEFORE_SEARCH = _alive_train_state()  # other tests of the session may hold their own
    folder = tmp_path_factory.mktemp("search")
    space = tiny_search_space(folder)
    zoo = folder / "zoo"
    record = search(SearchOptions(space=str(space), out=str(folder / "out"), zoo=str(zoo),
                                  wandb_mode="offline", progress=False))
    return folder / "out", zoo, record


def test_every_trial_is_on_the_leaderboard(finished_search):
    out, _, record = finished_search
    board = record["results"]["leaderboard"]
    assert len(board) == 6 and len({r["trial"] for r in board}) == 6
    by_encoder = {}
    for row in board:
        by_encoder.setdefault(row["encoder"], []).append(row)
    # ASHA is asynchronous: of two good trials the second may trail the first and stop
    assert "finished" in {r["status"] for r in by_encoder["lstm"]}
    assert {r["status"] for r in by_encoder["unstable"]} == {"failed"}
    assert any(r["status"] == "stopped" for r in by_encoder["snail"]), by_encoder["snail"]
    assert record["results"]["winner"]["config"]["encoder"] == "lstm"
    assert record["format"] == "uer_ray.result/1" and record["stage"] == "search"
    assert (out / "leaderboard.csv").read_text().count("\n") == 7
    assert "| trial |" in (out / "leaderboard.md").read_text()


def test_failed_trials_keep_their_error(finished_search):
    out, _, record = finished_search
    failed = [r for r in record["results"]["leaderboard"] if r["status"] == "failed"]
    assert len(failed) == 2
    errors = list((out / "tune").glob("trial_*/error.txt"))
    assert errors and any("loss became" in e.read_text() for e in errors)


def test_shared_stage_two_trains_once(finished_search):
    from uer_ray.tracking import read_metrics

    out, _, record = finished_search
    runs = [p for p in (out / "stage2").iterdir() if p.is_dir()]
    assert len(runs) == 1  # lstm x2 and snail x2: one stage-2 configuration
    steps = [r["step"] for r in read_metrics(runs[0] / "metrics.jsonl")]
    assert steps == sorted(set(steps)) and steps[-1] == 12  # trained once, no step twice
    winner = record["results"]["winner"]["trial_id"]
    ft = json.loads((out / "trials" / winner / "finetune" / "metrics.json").read_text())
    assert ft["parent"]["checkpoint"] == str(runs[0] / "final")
    assert ft["results"]["test"] is not None and record["results"]["test"] == ft["results"]["test"]


def test_stopped_trials_free_their_resources(finished_search):
    groups, controllers = _alive_train_state()
    assert not groups - BEFORE_SEARCH[0], groups
    assert not controllers - BEFORE_SEARCH[1], controllers


def test_the_winner_is_in_the_zoo_with_its_lineage(finished_search):
    from uer_ray.zoo import Zoo

    out, zoo_path, record = finished_search
    published = record["results"]["published"]
    assert len(published) == 1 and published[0]["parent"]
    zoo = Zoo(str(zoo_path))
    entry = zoo.record(*zoo.resolve(published[0]["entry"]))
    assert entry["provenance"]["search"] == record["provenance"]["search"]
    assert entry["provenance"]["trial"] == record["results"]["winner"]["trial_id"]
    assert entry["lineage"]["parent"] == published[0]["parent"]
    chain = zoo.lineage(published[0]["entry"])
    assert [e["kind"] for e in chain] == ["pre-trained", "fine-tuned"]
    assert chain[-1]["lineage"]["relation"] == "fine-tuned from"
    best = zoo.record(*zoo.resolve(f"{entry['name']}@best-book_review"))
    assert best["version"] == entry["version"]
    tests = [r for r in entry["results"] if r["split"] == "test"]
    assert tests, entry["results"]  # the winner's test score reached the zoo


def test_wandb_has_one_run_per_trial_stage(finished_search):
    from uer_ray.tracking.wandb_files import read_runs

    out, _, record = finished_search
    runs = read_runs(out)
    group = {r.group for r in runs if r.name}  # (a stopped trial's file may hold no run)
    assert len(group) == 1 and group.pop().startswith("search-tiny-")
    pretrain = [r for r in runs if r.job_type == "pretrain"]
    finetune = [r for r in runs if r.job_type == "finetune"]
    assert len(pretrain) == 1  # the shared stage 2
    finished = [r["trial"] for r in record["results"]["leaderboard"] if r["status"] == "finished"]
    names = {r.name.split("/")[0] for r in finetune}
    assert set(finished) <= names
    # (a trial that the scheduler stops is ended at once, and its W&B writer with it: its file
    # may hold no run; the leaderboard and the Tune results keep its epochs)
    finetune = [r for r in finetune if r.name.split("/")[0] in finished]
    for run in finetune:
        assert {"encoder", "stage2", "lr", "batch_size"} <= set(run.config), run.config
        if run.config["stage2"] == "lm":
            assert run.config["targets.lm"] == 1.0
    best = next(r for r in finetune if r.name.startswith(record["results"]["winner"]["trial_id"]))
    assert best.summary["best_dev/accuracy"] == pytest.approx(record["results"]["winner"]["best_dev"])


RESUME = """
import json, sys
from uer_ray.tune.driver import SearchOptions, search
search(SearchOptions.from_dict(json.loads(sys.argv[1])))
"""


def test_resume_after_the_driver_is_killed(ray_session, tmp_path):
    s = base_space(tmp_path)
    s["encoders"] = {"lstm": {"model": copy.deepcopy(TINY_LSTM), "lr": {"choice": [1e-2, 3e-3]},
                              "targets": ["none"]}}
    s["finetune"].update(epochs=2, batch_size={"choice": [8, 16]})
    s["budget"].update(searcher="grid", scheduler="fifo", max_concurrent=1, publish_top=0)
    space = write_space(tmp_path, s)
    out = tmp_path / "out"
    options = SearchOptions(space=str(space), out=str(out), wandb_mode="disabled",
                            address=ray_session.get_runtime_context().gcs_address)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TUNE_GLOBAL_CHECKPOINT_S": "1"}
    proc = subprocess.Popen([sys.executable, "-c", RESUME, json.dumps(options.to_dict())],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 300
        while not list((out / "trials").glob("*/finetune/model.safetensors")):
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            assert time.time() < deadline, "no trial finished"
            time.sleep(0.5)
        time.sleep(3)  # Tune saves its experiment state every second
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    first = sorted((out / "trials").glob("*/finetune/model.safetensors"))
    stamps = {p: p.stat().st_mtime for p in first}
    record = search(SearchOptions(**{**options.to_dict(), "resume": True}))
    board = record["results"]["leaderboard"]
    assert len(board) == 4 and len({r["trial"] for r in board}) == 4
    assert {r["status"] for r in board} == {"finished"}
    assert all(p.stat().st_mtime == t for p, t in stamps.items()), "a finished trial ran again"
