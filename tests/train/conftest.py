"""Fixtures for the training tests: tiny shards made once per session by the real preprocess
command from a slice of CLUECorpusSmall, and a tiny BERT-style model config."""

from __future__ import annotations

import json

import pytest
from uer_testing import data_file


@pytest.fixture(scope="session")
def zh_vocab() -> str:
    return str(data_file("vocab/google_zh_vocab.txt"))


@pytest.fixture(scope="session")
def bert_shards(ray_session, zh_vocab, tmp_path_factory):
    """~600 sentences of the bert corpus -> mlm+sp shards of 64 tokens, made by the real
    preprocess on the session's Ray cluster."""
    from uer_ray.data import ProcessorConfig, preprocess
    from uer_ray.tokenizers import build_tokenizer

    src = data_file("corpora/CLUECorpusSmall_bert_sampled.txt")
    root = tmp_path_factory.mktemp("bert_shards")
    lines = src.read_text(encoding="utf-8").splitlines()[:600]
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    preprocess(
        [corpus],
        root / "shards",
        processor="bert",
        tokenizer=build_tokenizer("wordpiece", vocab=zh_vocab),
        config=ProcessorConfig(seq_length=64),
        progress=False,
    )
    return root / "shards"


@pytest.fixture(scope="session")
def tiny_bert_json(tmp_path_factory):
    """A BERT smaller than bert-tiny (1 layer, hidden 32) so that Ray tests stay quick."""
    path = tmp_path_factory.mktemp("model") / "tiny-bert.json"
    path.write_text(
        json.dumps(
            {
                "embedding": ["word", "pos", "seg"],
                "encoder": "transformer",
                "targets": {"mlm": 1.0, "sp": 1.0},
                "emb_size": 32,
                "hidden_size": 32,
                "layers": 1,
                "heads": 2,
                "ffn_size": 64,
                "max_seq_length": 64,
                "dropout": 0.1,
            }
        )
    )
    return str(path)
