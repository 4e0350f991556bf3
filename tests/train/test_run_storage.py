"""Run storage on a URI: the driver's own questions (is there a run called NAME, forget it) on
the loopback S3 server as on a local folder (no Ray: Ray Train writes the checkpoints itself,
which the multi-node S3 scenario in tests/cluster/ covers)."""

from __future__ import annotations

import secrets

import pytest
from s3_server import s3_server  # noqa: F401  (the session-scoped fixture)

from uer_ray.train import run_storage as rs


@pytest.fixture
def s3_runs(s3_server):  # noqa: F811
    s3_server.make_bucket("runs")
    return s3_server, f"t-{secrets.token_hex(4)}"


def test_has_run_and_clear_run_on_s3(s3_runs, tmp_path):
    server, prefix = s3_runs
    storage = server.uri("runs", prefix)
    assert not rs.has_run(tmp_path, "pretrain", storage)
    fs = server.filesystem()
    fs.create_dir(f"runs/{prefix}/pretrain/checkpoint_00000010")
    with fs.open_output_stream(f"runs/{prefix}/pretrain/checkpoint_00000010/model.bin") as f:
        f.write(b"x")
    with fs.open_output_stream(f"runs/{prefix}/other/keep.txt") as f:
        f.write(b"y")
    assert rs.has_run(tmp_path, "pretrain", storage)
    rs.clear_run(tmp_path, "pretrain", storage)
    assert not rs.has_run(tmp_path, "pretrain", storage)
    rs.clear_run(tmp_path, "pretrain", storage)  # nothing there: no error
    assert rs.has_run(tmp_path, "other", storage)  # a neighbour is untouched
    assert rs.run_location(tmp_path, "pretrain", storage) == (
        f"s3://runs/{prefix}/pretrain?{server.query()}")


def test_local_storages(tmp_path):
    assert rs.storage_path(tmp_path / "out") == str(tmp_path / "out" / "ray")
    assert rs.storage_path("out", "file://" + str(tmp_path / "s")) == str(tmp_path / "s")
    assert rs.storage_path("out", "s3://b/p?scheme=http") == "s3://b/p?scheme=http"
    (tmp_path / "s" / "pretrain").mkdir(parents=True)
    assert not rs.has_run("out", "pretrain", str(tmp_path / "s"))  # an empty folder is no run
    (tmp_path / "s" / "pretrain" / "x").write_text("1")
    assert rs.has_run("out", "pretrain", str(tmp_path / "s"))
    rs.clear_run("out", "pretrain", str(tmp_path / "s"))
    assert not (tmp_path / "s" / "pretrain").exists()


def test_an_unreachable_store_is_one_line_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    storage = "s3://runs/p?endpoint_override=127.0.0.1:9&scheme=http"
    with pytest.raises(rs.StorageError, match=r"cannot list the run storage s3://runs/p/pretrain"):
        rs.has_run(tmp_path, "pretrain", storage)
