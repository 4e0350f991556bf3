"""A search's home in a store (uer_ray.tune.home) on the loopback S3 server: push and pull of
files and folders, mirrors that never share a disk, a pull that races another, and the copy
``report`` reads."""

from __future__ import annotations

import secrets
import threading

import pytest
from s3_server import s3_server  # noqa: F401  (the session-scoped fixture)

from uer_ray.tune.home import SearchHome
from uer_ray.zoo import ZooError


@pytest.fixture
def home(s3_server, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("UER_RAY_CACHE", str(tmp_path / "cache"))
    s3_server.make_bucket("searches")
    return SearchHome(s3_server.uri("searches", f"s-{secrets.token_hex(4)}"))


def test_push_then_pull_into_another_mirror(home, tmp_path):
    driver, node = home.local(), home.local("node-a")
    assert driver != node and str(driver).startswith(str(tmp_path / "cache"))
    (driver / "data").mkdir(parents=True)
    (driver / "data" / "train.tsv").write_text("label\ttext_a\n1\t好\n", encoding="utf-8")
    (driver / "data" / ".train.tsv.tmp-x").write_text("half", encoding="utf-8")  # never pushed
    (driver / "search.json").write_text("{}", encoding="utf-8")
    home.push(driver, "data")
    home.push(driver, "search.json")
    assert home.exists("data", "train.tsv") and not home.exists("data", ".train.tsv.tmp-x")
    got = home.pull(node, "data")
    assert (got / "train.tsv").read_text(encoding="utf-8") == "label\ttext_a\n1\t好\n"
    assert sorted(p.name for p in got.iterdir()) == ["train.tsv"]
    assert home.read_bytes("search.json") == b"{}" and home.read_bytes("nothing.json") is None
    assert home.pull(node, "search.json").read_text() == "{}"
    (driver / "search.json").write_text('{"a": 1}', encoding="utf-8")
    home.push(driver, "search.json")
    assert home.pull(node, "search.json").read_text() == "{}"  # there already: kept
    assert home.pull(node, "search.json", refresh=True).read_text() == '{"a": 1}'


def test_concurrent_pulls_of_one_folder_both_see_all_of_it(home):
    driver = home.local()
    for i in range(20):
        (driver / "shards").mkdir(parents=True, exist_ok=True)
        (driver / "shards" / f"part-{i:03d}.parquet").write_bytes(bytes([i]) * 10_000)
    home.push(driver, "shards")
    node = home.local("node-b")
    seen, errors = [], []

    def pull():
        try:
            folder = home.pull(node, "shards")
            seen.append(sorted(p.name for p in folder.iterdir()))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=pull) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(seen) == 3 and all(len(s) == 20 for s in seen)
    assert [p.name for p in node.iterdir()] == ["shards"]  # no temporary folder left behind


def test_missing_things_are_one_clear_error(home):
    with pytest.raises(ZooError, match=r"trials/x is not in the search's store s3://searches/"):
        home.pull(home.local("n"), "trials", "x")
    with pytest.raises(ZooError, match="holds no search"):
        home.mirror()


def test_a_local_home_moves_nothing(tmp_path):
    home = SearchHome(str(tmp_path / "search"))
    assert not home.remote and home.local() == home.local("node-a") == tmp_path / "search"
    home.push(tmp_path, "anything")  # a no-op
    assert home.pull(tmp_path / "search", "x") == tmp_path / "search" / "x"
    assert home.uri_of("ray") == str(tmp_path / "search" / "ray")
