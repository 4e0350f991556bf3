"""The zoo on a real S3-compatible server on loopback (moto's server mode), through pyarrow's S3
filesystem: fetch into the cache once, sha256 checks, remote checkpoint URIs, unreachable stores."""

from __future__ import annotations

import os

import pytest
from zoo_helpers import finetuned, pretrained

import uer_ray
from uer_ray import zoo
from uer_ray.records import find_record, read_record
from uer_ray.zoo import Zoo, ZooError


def test_publish_fetch_once_and_lineage_on_s3(tmp_path, s3_zoo):
    pt = pretrained(tmp_path)
    a = zoo.publish(pt, zoo=s3_zoo)
    b = zoo.publish(finetuned(tmp_path, pt / "final"), zoo=s3_zoo, aliases=["best-book_review"])
    assert a.uri.startswith("s3://zoo/") and a.uri.endswith("scheme=http")
    store = Zoo(s3_zoo)
    assert store.record(b.name, b.version)["lineage"]["parent"] == f"{a.name}@{a.version}"
    got = []
    folder = zoo.resolve_checkpoint(f"zoo:{b.name}@best-book_review", zoo=s3_zoo, progress=got.append)
    assert folder.startswith(os.environ["UER_RAY_CACHE"]) and sum(got) > 50_000
    again = []
    assert zoo.resolve_checkpoint(b.ref, zoo=s3_zoo, progress=again.append) == folder
    assert again == []  # cached and unchanged: nothing fetched, nothing hashed
    assert store.verify(b.ref) == []
    assert uer_ray.models.load_model(folder).tokenizer is not None


def test_a_damaged_object_is_never_loaded(tmp_path, s3_zoo):
    a = zoo.publish(pretrained(tmp_path), zoo=s3_zoo)
    store = Zoo(s3_zoo)
    key = store.storage.path(a.name, "versions", a.version, "model.safetensors")
    data = bytearray(store.storage.fs.open_input_stream(key).read())
    data[-5] ^= 0x01
    with store.storage.fs.open_output_stream(key) as f:
        f.write(bytes(data))
    with pytest.raises(ZooError, match=r"model\.safetensors fails its sha256 check.*not loaded"):
        zoo.resolve_checkpoint(a.ref, zoo=s3_zoo)
    cache = os.environ["UER_RAY_CACHE"]
    left = [os.path.join(r, f) for r, _, fs in os.walk(cache) for f in fs if f == "model.safetensors"]
    assert left == []  # the temporary download was removed
    assert store.verify(a.ref)[0].startswith("model.safetensors: sha256")
    with store.storage.fs.open_output_stream(key) as f:
        f.write(bytes(data[:1000]))
    assert "truncated" in store.verify(a.ref)[0]
    with pytest.raises(ZooError, match="truncated"):
        zoo.resolve_checkpoint(a.ref, zoo=s3_zoo)


def test_remote_checkpoint_uris(tmp_path, s3_server):
    """finetune --init s3://.../final (and a pretrain --out folder on S3) works through the cache."""
    import pyarrow.fs as pafs

    s3_server.make_bucket("runs")
    pt = pretrained(tmp_path)
    pafs.copy_files(str(pt), "runs/exp1/pt", destination_filesystem=s3_server.filesystem())
    final = zoo.resolve_checkpoint(s3_server.uri("runs", "exp1", "pt", "final"))
    assert os.path.isfile(os.path.join(final, "config.json"))
    outdir = zoo.resolve_checkpoint(s3_server.uri("runs", "exp1", "pt"))
    assert os.path.basename(outdir) == "final"
    assert read_record(find_record(outdir))["stage"] == "pretrain"  # the record came along
    assert uer_ray.load_model(s3_server.uri("runs", "exp1", "pt", "final")).tokenizer is not None
    with pytest.raises(ZooError, match="no files there"):
        zoo.resolve_checkpoint(s3_server.uri("runs", "exp1", "nothing"))


def test_unreachable_store_names_the_uri():
    uri = "s3://zoo/x?endpoint_override=127.0.0.1:1&scheme=http"
    with pytest.raises(ZooError, match=r"in the store s3://zoo/x\?endpoint_override=127\.0\.0\.1:1"):
        Zoo(uri).names()
