"""Shared test fixtures. One local Ray session serves every Ray test (start-up costs seconds)."""

from __future__ import annotations

import os

import pytest
from uer_testing import SHARED_TESTS, data_file, train_spm

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_collection_modifyitems(config, items):
    """Tests marked ``shared_data`` read whole corpora from ../shared/data: skipped unless asked."""
    if os.environ.get(SHARED_TESTS) == "1":
        return
    skip = pytest.mark.skip(reason=f"measures against the whole sets in ../shared/data: set {SHARED_TESTS}=1")
    for item in items:
        if item.get_closest_marker("shared_data"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def spm_model(tmp_path_factory):
    """A SentencePiece model (8,000 pieces) trained on the bundled Chinese corpus slice, in place
    of the published 2 MB ``cluecorpussmall_spm.model``."""
    corpus = data_file("corpora/CLUECorpusSmall_sampled.txt")
    return train_spm(corpus, tmp_path_factory.mktemp("spm") / "cluecorpussmall_spm.model")


@pytest.fixture(scope="session")
def ray_session(tmp_path_factory):
    """One embedded Ray cluster for the whole test session. Its workers inherit a cache folder
    of the session's own ($UER_RAY_CACHE), so no test writes under ~/.cache."""
    import ray

    from uer_ray.cluster import ensure_ray

    if "UER_RAY_CACHE" not in os.environ and not ray.is_initialized():
        os.environ["UER_RAY_CACHE"] = str(tmp_path_factory.mktemp("uer_ray-cache"))

    started = ensure_ray()
    yield ray
    if started:
        ray.shutdown()
