"""Cluster tests: the offline config checks run in the default suite; the multi-node scenarios
(marked ``cluster``) start real Ray clusters for minutes and run only when asked:

    UER_RAY_CLUSTER_TESTS=1 bash scripts/test.sh tests/cluster -m cluster

They never use the suite's shared ``ray_session``: each starts its own cluster
(``multinode.LocalCluster``) and drives it from subprocesses. Their wall times are printed at
the end of the run.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE_CORPUS = REPO / "uer_ray" / "samples" / "book_review" / "corpus.txt"
ENABLE = "UER_RAY_CLUSTER_TESTS"
TIMINGS: dict[str, dict[str, float]] = {}

# A BERT small enough for 2-core machines (2 layers, hidden 64); MLM only, on `mlm` shards.
TINY_BERT = {
    "embedding": ["word", "pos", "seg"],
    "encoder": "transformer",
    "targets": {"mlm": 1.0},
    "emb_size": 64,
    "hidden_size": 64,
    "layers": 2,
    "heads": 2,
    "ffn_size": 128,
    "max_seq_length": 64,
    "dropout": 0.1,
}


def pytest_collection_modifyitems(config, items):
    if os.environ.get(ENABLE) == "1":
        return
    skip = pytest.mark.skip(reason=f"multi-node cluster scenario (minutes): set {ENABLE}=1")
    for item in items:
        if item.get_closest_marker("cluster"):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    if not TIMINGS:
        return
    terminalreporter.section("multi-node scenario times (s)")
    for name, parts in TIMINGS.items():
        terminalreporter.write_line(f"{name}: " + ", ".join(f"{k} {v:.1f}" for k, v in parts.items()))


class Stopwatch:
    """Named laps of one scenario, reported in the terminal summary."""

    def __init__(self, name: str):
        self.start = self.last = time.monotonic()
        self.parts = TIMINGS.setdefault(name, {})

    def lap(self, what: str) -> float:
        now = time.monotonic()
        self.parts[what] = now - self.last
        self.last = now
        return self.parts[what]

    def total(self) -> None:
        self.parts["total"] = time.monotonic() - self.start


@pytest.fixture
def stopwatch(request):
    watch = Stopwatch(request.node.name)
    yield watch
    watch.total()


@pytest.fixture(scope="session")
def cluster_inputs(tmp_path_factory):
    """Shards and a model for the scenarios, made by the real commands from the bundled sample
    corpus (no ../shared needed): a char vocabulary, then ``preprocess`` (an embedded Ray in a
    subprocess, run and cleaned up like a test cluster) into 4 shards of 64-token rows."""
    from multinode import LocalCluster

    root = tmp_path_factory.mktemp("cluster_inputs")
    corpus = root / "corpus.txt"
    lines = SAMPLE_CORPUS.read_text(encoding="utf-8").splitlines()[:3000]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    model = root / "tiny-bert.json"
    model.write_text(json.dumps(TINY_BERT))
    with LocalCluster(name="prep") as c:
        steps = [
            ["vocab", "--corpus", corpus, "--tokenizer", "char", "--size", "3000",
             "--out", root / "vocab.txt"],
            ["preprocess", "--corpus", corpus, "--processor", "mlm", "--tokenizer", "char",
             "--vocab", root / "vocab.txt", "--seq-length", "64", "--chunk-mb", "0.1",
             "--out", root / "shards", "--no-progress"],
        ]  # fmt: skip
        for argv in steps:
            out = c.run_embedded(["python", "run.py", *map(str, argv)])
            assert out.returncode == 0, out.stdout + out.stderr
    return {"shards": root / "shards", "model": model}
