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
from s3_server import s3_server  # noqa: F401  (the session-scoped fixture)
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
                                  wandb_mode="offline", progress=False, repeat=1))
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


def test_repeated_seeds_give_mean_and_std(finished_search):
    _, _, record = finished_search
    repeats = record["results"]["repeats"]
    finished = [r for r in record["results"]["leaderboard"] if r["status"] == "finished"]
    assert len(repeats) == min(3, len(finished)) >= 1
    for item in repeats:
        assert item["seeds"] == [0, 1] and len(item["dev"]) == 2
        assert item["mean"] == pytest.approx(sum(item["dev"]) / 2) and item["std"] >= 0


def test_failed_trials_keep_their_error(finished_search):
    out, _, record = finished_search
    failed = [r for r in record["results"]["leaderboard"] if r["status"] == "failed"]
    assert len(failed) == 2
    errors = list((out / "tune").glob("trial_*/error.txt"))
    assert errors and any("loss became" in e.read_text() for e in errors)


def test_shared_stage_two_trains_once(finished_search):
    from uer_ray.tracking import read_metrics

    out, _, record = finished_search
    def seed(run):
        return json.loads((run / "metrics.json").read_text())["options"]["seed"]

    runs = sorted((p for p in (out / "stage2").iterdir() if p.is_dir()), key=seed)
    # lstm x2 and snail x2: one stage-2 configuration; the winner's repeat (seed 1) has its own
    assert [seed(r) for r in runs] == [0, 1]
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
    # the shared stage 2, and the winner's repeat with seed 1
    assert sorted(r.config["seed"] for r in pretrain) == [0, 1], [r.config for r in pretrain]
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


def _models(out: str) -> dict[str, float]:
    """Finished trials' model files -> modification time, in a folder or in the store."""
    from uer_ray.tune.home import SearchHome

    home = SearchHome(out)
    if not home.remote:
        return {str(p): p.stat().st_mtime for p in Path(out).glob("trials/*/finetune/model.safetensors")}
    found = home.storage().list("trials", recursive=True)
    return {i.path: i.mtime.timestamp() for i in found if i.path.endswith("/finetune/model.safetensors")}


@pytest.mark.parametrize("where", ["folder", "s3"])
def test_resume_after_the_driver_is_killed(ray_session, tmp_path, where, request, monkeypatch):
    """SIGKILL of the driver once a trial has finished, then ``--resume``: the finished trials
    are not run again. ``s3``: the search's home is the loopback S3 server (``--out s3://``),
    and the resumed driver starts from an empty mirror, as on another machine."""
    s = base_space(tmp_path)
    s["encoders"] = {"lstm": {"model": copy.deepcopy(TINY_LSTM), "lr": {"choice": [1e-2, 3e-3]},
                              "targets": ["none"]}}
    s["finetune"].update(epochs=2, batch_size={"choice": [8, 16]})
    s["budget"].update(searcher="grid", scheduler="fifo", max_concurrent=1, publish_top=0)
    space = write_space(tmp_path, s)
    out = str(tmp_path / "out")
    if where == "s3":
        server = request.getfixturevalue("s3_server")
        server.make_bucket("searches")
        out = server.uri("searches", tmp_path.name)
        monkeypatch.setenv("UER_RAY_CACHE", str(tmp_path / "cache"))
    options = SearchOptions(space=str(space), out=out, wandb_mode="disabled",
                            address=ray_session.get_runtime_context().gcs_address)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TUNE_GLOBAL_CHECKPOINT_S": "1"}
    proc = subprocess.Popen([sys.executable, "-c", RESUME, json.dumps(options.to_dict())],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 300
        while not _models(out):
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            assert time.time() < deadline, "no trial finished"
            time.sleep(0.5)
        time.sleep(3)  # Tune saves its experiment state every second
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    stamps = _models(out)
    if where == "s3":
        import shutil

        shutil.rmtree(tmp_path / "cache")  # the resumed driver has nothing but the store
    monkeypatch.setenv("TUNE_GLOBAL_CHECKPOINT_S", "1")
    record = search(SearchOptions(**{**options.to_dict(), "resume": True}))
    board = record["results"]["leaderboard"]
    assert len(board) == 4 and len({r["trial"] for r in board}) == 4
    assert {r["status"] for r in board} == {"finished"}
    after = _models(out)
    assert len(after) == 4 and all(after[p] == t for p, t in stamps.items()), "a finished trial ran again"


# -- the report and the W&B workspace of that search (issue: comparisons people can look at) --
@pytest.fixture(scope="module")
def search_report(finished_search):
    from uer_ray.report import gather, make_report

    out, _, record = finished_search
    report_dir = out.parent / "report"
    return report_dir, make_report(gather([str(out)]), report_dir), record


def test_report_page_renders_in_a_browser(search_report):
    import shutil

    pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no Chromium here (.ci/run installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    folder, result, record = search_report
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page()
            requests = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto((folder / "report.html").as_uri())
            images = page.evaluate("[...document.images].map(i => [i.complete, i.naturalWidth, i.alt])")
            text = page.inner_text("body")
        finally:
            browser.close()
    assert len(images) == len(result["figures"]) >= 3, images
    assert all(done and width > 100 for done, width, _ in images), images
    assert all(u.startswith(("file:", "data:")) for u in requests), requests  # no network
    for row in record["results"]["leaderboard"]:
        assert row["trial"] in text  # every trial is in the table


def test_report_pngs_are_real_figures(search_report):
    import numpy as np
    from PIL import Image

    _, result, _ = search_report
    for path in result["figures"]:
        img = np.asarray(Image.open(path).convert("L"), dtype=float)
        assert img.shape[0] > 300 and img.shape[1] > 500, (path, img.shape)
        assert img.std() > 10, f"{path} looks blank"


def test_report_compares_configurations_on_the_test_set(search_report):
    folder, result, record = search_report
    pairs = json.loads((folder / "comparisons.json").read_text())
    finished = [r for r in record["results"]["leaderboard"] if r["status"] == "finished"]
    models = len(finished) + sum(len(r["seeds"]) - 1 for r in record["results"]["repeats"])
    assert len(pairs) == models * (models - 1) // 2 >= 1  # (the winner's seeds: always two)
    winner = record["results"]["winner"]["trial_id"]
    assert any(winner in (p["a"], p["b"]) and "seed=1" in json.dumps(p) for p in pairs), pairs
    for p in pairs:
        low, high = p["ci95"]
        assert low <= p["difference"] <= high and 0 <= p["mcnemar_p"] <= 1
    assert "larger than the noise" in (folder / "report.md").read_text()


def test_workspace_definition_names_the_search_keys(finished_search):
    out, _, record = finished_search
    spec = json.loads((out / "wandb_workspace.json").read_text())
    text = json.dumps(spec)
    panels = [p for s in spec["spec"]["section"]["panel_bank_config"]["sections"] for p in s["panels"]]
    parallel = next(p for p in panels if p["view_type"] == "Parallel Coordinates Plot")
    accessors = [c["accessor"] for c in parallel["config"]["columns"]]
    assert "config:encoder.value" in accessors and "config:lr.value" in accessors
    assert accessors[-1] == "summary:best_dev/accuracy"
    assert "dev/accuracy" in text and f'search-tiny-{record["provenance"]["search"]}' in text


def test_the_published_model_is_a_wandb_artifact_of_its_run(finished_search):
    from uer_ray.tracking.wandb_files import read_runs

    out, _, record = finished_search
    winner = record["results"]["winner"]["trial_id"]
    entry = record["results"]["published"][0]["entry"]
    artifacts = [a for r in read_runs(out) if r.name.startswith(winner) for a in r.artifacts]
    assert any(a["type"] == "model" and a["metadata"].get("zoo_entry") == entry for a in artifacts), artifacts


def test_report_of_a_search_still_running(finished_search, tmp_path):
    import shutil

    from uer_ray.report import gather, make_report

    out, _, record = finished_search
    copy = tmp_path / "running"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("wandb"))
    (copy / "metrics.json").unlink()  # what a search has before it ends
    result = make_report(gather([str(copy)]), tmp_path / "report", compare=False)
    assert any("still running" in n for n in result["notes"])
    assert result["trials"] == len(record["results"]["leaderboard"])
    assert "still running" in (tmp_path / "report" / "report.html").read_text()
