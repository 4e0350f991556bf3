"""The zoo store on a local folder: publish, resolve, aliases, lineage, removal, integrity
checks and what an interrupted publish leaves behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from zoo_helpers import finetuned, pretrained

import uer_ray
from uer_ray import zoo
from uer_ray.errors import UerRayError
from uer_ray.zoo import Zoo, ZooError


def test_publish_resolve_and_lineage(tmp_path, private_zoo):
    pt = pretrained(tmp_path)
    a = zoo.publish(pt)
    assert a.name == "cluecorpussmall+bert-tiny+mlm-sp" and a.uri.startswith(str(private_zoo))
    ft = finetuned(tmp_path, pt / "final")  # the parent is a plain path: found by its weights
    b = zoo.publish(ft, aliases=["best-book_review"], provenance={"search": "s1", "trial": "t3"})
    assert b.name == "cluecorpussmall+bert-tiny+mlm-sp+book_review"
    store = Zoo()
    entry = store.record(b.name, b.version)
    assert entry["kind"] == "fine-tuned" and entry["lineage"]["parent"] == f"{a.name}@{a.version}"
    assert entry["lineage"]["relation"] == "fine-tuned from"
    assert entry["provenance"] == {"search": "s1", "trial": "t3"}
    assert entry["results"][0] == {"task": "classify", "dataset": "book_review", "split": "dev",
                                   "metric": "accuracy", "value": 0.8125}
    assert set(entry["files"]) >= {"config.json", "model.safetensors", "task.json", "metrics.json",
                                   "tokenizer/vocab.txt", "tokenizer/tokenizer_config.json"}
    assert store.resolve(f"zoo:{b.name}@best-book_review") == (b.name, b.version)
    assert store.resolve(b.name) == store.resolve(f"{b.name}@latest") == (b.name, b.version)
    assert store.resolve(f"{b.name}@{b.version[:15]}") == (b.name, b.version)  # a unique prefix
    assert [e["name"] for e in store.lineage(b.ref)] == [a.name, b.name]
    # the pretrain record beside final/ travels with the version as metrics.json
    folder = zoo.resolve_checkpoint(a.ref)
    assert json.loads(open(os.path.join(folder, "metrics.json")).read())["stage"] == "pretrain"
    assert zoo.entry_of(folder) == f"{a.name}@{a.version}"
    model = uer_ray.load_model(f"zoo:{a.name}@latest")
    assert model.tokenizer is not None and not model.training


def test_record_parent_ref_and_new_versions_move_latest(tmp_path):
    pt = pretrained(tmp_path)
    a = zoo.publish(pt, name="base")
    ft = finetuned(tmp_path, None, parent_zoo="zoo:base@latest")
    b = zoo.publish(ft, name="child")
    assert Zoo().record("child", b.version)["lineage"]["parent"] == f"base@{a.version}"
    a2 = zoo.publish(pt, name="base")
    assert a2.version > a.version and Zoo().resolve("base@latest") == ("base", a2.version)
    assert Zoo().versions("base") == [a.version, a2.version]
    Zoo().set_alias(f"base@{a.version}", "stable")
    assert Zoo().resolve("base@stable") == ("base", a.version)
    Zoo().set_alias(f"base@{a2.version}", "stable")  # movable
    assert Zoo().aliases("base")["stable"] == a2.version
    with pytest.raises(ZooError, match="latest"):
        Zoo().set_alias(f"base@{a.version}", "latest")


def test_bad_input_is_one_clear_error(tmp_path):
    store = Zoo()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ZooError, match="not a checkpoint folder"):
        zoo.publish(tmp_path / "empty")
    bare = pretrained(tmp_path) / "final"
    os.unlink(bare.parent / "metrics.json")
    with pytest.raises(ZooError, match="no result record"):
        zoo.publish(bare)
    (bare / "metrics.json").write_text(json.dumps({"task": "classify", "dev": {}}))  # the old shape
    with pytest.raises(UerRayError, match="no 'format' key"):
        zoo.publish(bare)
    pt = pretrained(tmp_path, name="pt2")
    with pytest.raises(ZooError, match="invalid zoo entry name 'Bad Name'"):
        zoo.publish(pt, name="Bad Name")
    a = zoo.publish(pt, name="bert-tiny-zh")
    with pytest.raises(ZooError, match=r"no zoo entry 'bert-tiny-hz'.*did you mean 'bert-tiny-zh'"):
        store.resolve("zoo:bert-tiny-hz")
    with pytest.raises(ZooError, match=r"no version or alias 'lastest'.*did you mean 'latest'"):
        store.resolve("bert-tiny-zh@lastest")
    with pytest.raises(ZooError, match="is neither a version id"):
        store.resolve("bert-tiny-zh@Not/Valid")
    child = finetuned(tmp_path, pt / "final")
    zoo.publish(child)
    with pytest.raises(ZooError, match="is the parent of"):
        store.remove(a.ref)


def test_remove_and_children(tmp_path):
    pt = pretrained(tmp_path)
    a = zoo.publish(pt, name="base", aliases=["stable"])
    b = zoo.publish(finetuned(tmp_path, pt / "final"), name="kid")
    store = Zoo()
    assert [c["name"] for c in store.children("base", a.version)] == ["kid"]
    store.remove(b.ref)
    store.remove("base@stable")
    assert store.names() == [] and store.orphans() == []
    assert not os.path.exists(os.path.join(str(Zoo().uri), "base", "aliases", "stable.json"))


def test_flipped_byte_fails_load_naming_the_file_and_verify_reports_it(tmp_path):
    a = zoo.publish(pretrained(tmp_path))
    folder = zoo.resolve_checkpoint(a.ref)  # verified once: later loads only stat the files
    weights = os.path.join(folder, "model.safetensors")
    with open(weights, "r+b") as f:
        f.seek(os.path.getsize(weights) - 7)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0x01]))
    with pytest.raises(ZooError, match=r"model\.safetensors fails its sha256 check.*not loaded"):
        uer_ray.load_model(a.ref)
    problems = Zoo().verify(a.ref)
    assert len(problems) == 1 and problems[0].startswith("model.safetensors: sha256")
    with open(weights, "r+b") as f:
        f.truncate(100)
    with pytest.raises(ZooError, match=r"model\.safetensors has 100 bytes.*truncated"):
        zoo.resolve_checkpoint(a.ref)
    assert "truncated" in Zoo().verify(a.ref)[0]


def test_ctrl_c_mid_publish_leaves_nothing(tmp_path):
    pt = pretrained(tmp_path)

    def interrupt(n):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        zoo.publish(pt, progress=interrupt)
    store = Zoo()
    assert store.names() == [] and store.orphans() == []


def test_a_crash_mid_publish_is_never_listed_and_gc_removes_it(tmp_path):
    pt = pretrained(tmp_path)
    code = ("import os, signal, sys; from uer_ray import zoo; "
            "zoo.publish(sys.argv[1], name='crash', progress=lambda n: os.kill(os.getpid(), signal.SIGKILL))")
    done = subprocess.run([sys.executable, "-c", code, str(pt)], env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert done.returncode == -9
    store = Zoo()
    assert store.names() == [] and store.entries() == []
    with pytest.raises(ZooError, match="no zoo entry 'crash'"):
        store.resolve("crash")
    orphans = store.orphans()
    assert [(n, age < 600) for n, _, age in orphans] == [("crash", True)]
    assert store.gc(older_than=3600) == []  # young: may still be publishing
    assert store.gc(older_than=0) == [("crash", orphans[0][1])]
    assert store.orphans() == []


def test_paths_and_uris():
    assert zoo.resolve_checkpoint("runs/x/final") == "runs/x/final"  # unchanged, not checked
    assert zoo.resolve_checkpoint("file:///abs/ckpt") == "/abs/ckpt"
    assert zoo.is_zoo_ref("zoo:a@b") and not zoo.is_zoo_ref("a@b") and not zoo.is_zoo_ref(None)
    gs = Zoo("gs://bucket/team/zoo")  # parsed without touching the network
    assert gs.storage.scheme == "gs" and gs.uri == "gs://bucket/team/zoo"
    s3 = Zoo("s3://b/z?endpoint_override=h:9000&scheme=http")
    assert s3.storage.uri_of("n", "versions", "v") == "s3://b/z/n/versions/v?endpoint_override=h:9000&scheme=http"
    assert Zoo("~/z").uri == os.path.expanduser("~/z")
    with pytest.raises(ZooError, match="cannot open the store nosuch://x"):
        Zoo("nosuch://x").names()


def test_a_parent_in_another_store_is_kept_as_written(tmp_path):
    other = "elsewhere@20260101-000000-000-deadbeef"
    b = zoo.publish(finetuned(tmp_path, None, parent_zoo=f"zoo:{other}"), name="kid")
    store = Zoo()
    assert store.record("kid", b.version)["lineage"]["parent"] == other
    assert [e["name"] for e in store.lineage(b.ref)] == ["kid"]  # the walk stops at the store's edge


def test_a_malformed_record_is_refused_before_anything_is_written(tmp_path):
    pt = pretrained(tmp_path)
    record = json.loads((pt / "metrics.json").read_text())
    record["metrics"][0].pop("value")
    (pt / "metrics.json").write_text(json.dumps(record))
    with pytest.raises(ZooError, match=r"metrics\[0\] lacks one of"):
        zoo.publish(pt)
    assert Zoo().orphans() == [] and Zoo().names() == []
