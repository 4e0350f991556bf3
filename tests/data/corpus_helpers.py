"""Shared pieces of the data tests: tokenizer fixtures and running one processor over a slice of
a shared corpus, as a preprocess task would. (Not a conftest.py: tests import ``conftest`` by
name and a second one would shadow the top-level one.)"""

import numpy as np
import pytest
from data_paths import data_file

from uer_ray.data import PROCESSORS, ProcessorConfig
from uer_ray.data.corpus import SkipLog
from uer_ray.tokenizers import build_tokenizer


@pytest.fixture(scope="session")
def zh_tok():
    tok = build_tokenizer("wordpiece", vocab=data_file("vocab/google_zh_vocab.txt"))
    tok.encode_flat(["warm up"])
    return tok


@pytest.fixture(scope="session")
def en_tok():
    return build_tokenizer("wordpiece", vocab=data_file("vocab/google_uncased_en_vocab.txt"))


def run_processor(name, tok, rel, n, tgt_tokenizer=None, seed=0, **config):
    """(lines, table, skips) for the first ``n`` lines of ``rel`` through processor ``name``."""
    lines = data_file(rel).read_text(encoding="utf-8").split("\n")[:n]
    proc = PROCESSORS.get(name)(tok, ProcessorConfig(**config), tgt_tokenizer)
    skips = SkipLog()
    table = proc.instances(rel, lines, list(range(1, len(lines) + 1)), np.random.default_rng(seed), skips)
    return lines, table, skips
