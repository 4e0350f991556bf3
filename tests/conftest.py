"""Shared test fixtures. One local Ray session serves every Ray test (start-up costs seconds)."""

from __future__ import annotations

import os

import pytest
from uer_testing import SHARED_TESTS, data_file, train_spm

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The suite embeds its own Ray cluster: it never joins one a developer left running with
# `ray start` (the tests of attaching set this themselves).
os.environ.setdefault("UER_RAY_ATTACH", "0")


def pytest_collection_modifyitems(config, items):
    """Tests marked ``shared_data`` read whole sets from ../shared/data, which a clone lacks: they
    are deselected (not skipped, so a default run's skips are only the cluster scenarios) unless
    UER_RAY_SHARED_TESTS=1."""
    if os.environ.get(SHARED_TESTS) == "1":
        return
    opt_in = [item for item in items if item.get_closest_marker("shared_data")]
    if opt_in:
        config.hook.pytest_deselected(items=opt_in)
        items[:] = [item for item in items if not item.get_closest_marker("shared_data")]


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
