"""Eight real processes publish to one name at once, on a local folder and on the loopback S3
server: eight distinct versions, every one verifies, latest resolves to one of them."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from zoo_helpers import pretrained

from uer_ray.zoo import Zoo
from uer_ray.zoo.resolve import resolve_checkpoint

PUBLISHER = """
import os, sys, time
from uer_ray import zoo
while not os.path.exists(sys.argv[3]):   # start together
    time.sleep(0.005)
ref = zoo.publish(sys.argv[1], name="race", zoo=sys.argv[2], provenance={"trial": sys.argv[4]})
print(ref.version)
"""


def _race(tmp_path, uri: str, n: int = 8) -> list[str]:
    ckpts = [pretrained(tmp_path, name=f"pt{i}", seed=i) for i in range(n)]
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    procs = [subprocess.Popen([sys.executable, "-c", PUBLISHER, str(c), uri, str(go), str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for i, c in enumerate(ckpts)]
    time.sleep(3)  # let every interpreter reach the start line
    go.touch()
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-2000:]
    return [out.strip() for out, _ in outs]


def _check(uri: str, versions: list[str]) -> None:
    store = Zoo(uri)
    assert len(set(versions)) == 8
    assert store.versions("race") == sorted(versions)
    assert store.orphans() == []
    trials = set()
    for v in versions:
        assert store.verify(f"race@{v}") == []
        trials.add(store.record("race", v)["provenance"]["trial"])
    assert trials == {str(i) for i in range(8)}
    name, latest = store.resolve("race@latest")
    assert latest in versions
    assert os.path.isfile(os.path.join(resolve_checkpoint(f"zoo:race@{latest}", zoo=uri), "model.safetensors"))


@pytest.mark.slow
def test_eight_publishers_on_a_local_folder(tmp_path):
    uri = str(tmp_path / "shared-zoo")
    _check(uri, _race(tmp_path, uri))


@pytest.mark.slow
def test_eight_publishers_on_s3(tmp_path, s3_zoo):
    _check(s3_zoo, _race(tmp_path, s3_zoo))
