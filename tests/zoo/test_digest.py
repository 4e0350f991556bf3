"""File digests in pieces (uer_ray.zoo.digest): the construction, its edges, the copy that
hashes while it writes, and zoo versions whose weights span several pieces -- published, loaded,
damaged, on a local folder and on the loopback S3 server, and records from before pieces."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os

import pytest
from zoo_helpers import pretrained

import uer_ray
from uer_ray import zoo
from uer_ray.zoo import Zoo, ZooError
from uer_ray.zoo import digest as D


def by_hand(data: bytes, piece: int) -> str:
    """What the docs' shell recipe computes: sha256 over the pieces' binary sha256 digests."""
    if len(data) <= piece:
        return hashlib.sha256(data).hexdigest()
    parts = [hashlib.sha256(data[i : i + piece]).digest() for i in range(0, len(data), piece)]
    return hashlib.sha256(b"".join(parts)).hexdigest()


P = 8 << 10


@pytest.fixture
def small_pieces(monkeypatch):
    """8 KiB pieces, so that a tiny checkpoint's weights (about 60 KB) span several."""
    monkeypatch.setattr(D, "PIECE", P)
    return P


@pytest.mark.parametrize("size", [0, 1, P, P + 1, 5 * P - 3, 7 * P, 200 * P + 17])
def test_every_way_of_hashing_a_file_agrees_with_the_recipe(tmp_path, small_pieces, size):
    data = os.urandom(size)
    src = tmp_path / "f.bin"
    src.write_bytes(data)
    want = by_hand(data, small_pieces)
    assert D.hash_file(src) == (want, size)
    assert D.digest_bytes(data) == want
    stream = D.Digest(D.piece_size_for(size))
    for i in range(0, size, 10_000):  # chunks that do not line up with pieces
        stream.update(data[i : i + 10_000])
    assert stream.hexdigest() == want
    assert D.copy_file(src, tmp_path / "g.bin") == (want, size)
    assert (tmp_path / "g.bin").read_bytes() == data
    assert D.hash_file(src, None)[0] == hashlib.sha256(data).hexdigest()  # a record without pieces
    assert D.piece_size_for(size) == (small_pieces if size > small_pieces else None)


def test_a_copy_that_copies_onto_a_longer_file_leaves_exactly_the_source(tmp_path, small_pieces):
    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_bytes(os.urandom(3 * small_pieces))
    dst.write_bytes(b"x" * (9 * small_pieces))
    D.copy_file(src, dst)
    assert dst.read_bytes() == src.read_bytes()


def _child_hash(path: str, queue) -> None:
    queue.put(D.hash_file(path)[0])


def test_a_forked_child_gets_its_own_hashing_threads(tmp_path, small_pieces):
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(4 * small_pieces))
    want = D.hash_file(path)[0]  # the parent's pool now exists
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_hash, args=(str(path), queue))
    child.start()
    try:
        assert queue.get(timeout=60) == want
    finally:
        child.join(30)
    assert child.exitcode == 0


def _flip(path: str, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))


def test_weights_in_several_pieces_publish_load_and_fail_naming_the_file(tmp_path, small_pieces):
    a = zoo.publish(pretrained(tmp_path))
    rec = Zoo().record(a.name, a.version)["files"]["model.safetensors"]
    assert rec["piece_size"] == small_pieces and rec["size"] > 3 * small_pieces
    assert "piece_size" not in Zoo().record(a.name, a.version)["files"]["config.json"]
    folder = zoo.resolve_checkpoint(a.ref)
    weights = os.path.join(folder, "model.safetensors")
    assert rec["sha256"] == by_hand(open(weights, "rb").read(), small_pieces)
    card = open(os.path.join(folder, "README.md"), encoding="utf-8").read()
    assert f"(of {small_pieces:,}-byte pieces)" in card and "xxd -r -p" in card
    assert Zoo().verify(a.ref) == []
    _flip(weights, 2 * small_pieces + 5)  # a byte in the third piece
    with pytest.raises(ZooError, match=r"model\.safetensors fails its sha256 check.*not loaded"):
        uer_ray.load_model(a.ref)
    assert Zoo().verify(a.ref)[0].startswith("model.safetensors: sha256")


def test_weights_in_several_pieces_on_s3(tmp_path, small_pieces, s3_zoo):
    a = zoo.publish(pretrained(tmp_path), zoo=s3_zoo)
    store = Zoo(s3_zoo)
    assert store.record(a.name, a.version)["files"]["model.safetensors"]["piece_size"] == small_pieces
    assert store.verify(a.ref) == []
    folder = zoo.resolve_checkpoint(a.ref, zoo=s3_zoo)
    assert uer_ray.models.load_model(folder).tokenizer is not None
    key = store.storage.path(a.name, "versions", a.version, "model.safetensors")
    data = bytearray(store.storage.fs.open_input_stream(key).read())
    data[small_pieces + 9] ^= 0x01
    with store.storage.fs.open_output_stream(key) as f:
        f.write(bytes(data))
    assert store.verify(a.ref)[0].startswith("model.safetensors: sha256")
    os.environ["UER_RAY_CACHE"] = str(tmp_path / "cache2")  # an empty cache: fetch again
    with pytest.raises(ZooError, match=r"model\.safetensors fails its sha256 check"):
        zoo.resolve_checkpoint(a.ref, zoo=s3_zoo)


def test_a_version_recorded_before_pieces_still_verifies_and_loads(tmp_path, small_pieces):
    """Records written before pieces carry the plain sha256 of every file, large or not."""
    a = zoo.publish(pretrained(tmp_path))
    store = Zoo()
    folder = store.storage.path(a.name, "versions", a.version)
    entry = store.record(a.name, a.version)
    rec = entry["files"]["model.safetensors"]
    rec.pop("piece_size")
    rec["sha256"] = hashlib.sha256(open(os.path.join(folder, "model.safetensors"), "rb").read()).hexdigest()
    for path in (os.path.join(folder, "zoo_entry.json"),
                 store.storage.path(a.name, "records", f"{a.version}.json")):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(entry, f)
    assert store.verify(a.ref) == []
    assert uer_ray.load_model(a.ref) is not None
    _flip(os.path.join(folder, "model.safetensors"), 3)
    assert store.verify(a.ref)[0].startswith("model.safetensors: sha256")
