"""Search-space files are checked whole before any trial: every bad case is one error naming the
file and the YAML key path; proposals respect the conditions and repeat with the same seed."""

from __future__ import annotations

import random

import pytest
from space_helpers import base_space, write_space
from uer_testing import edit, fails_in_one_line

from uer_ray.tune import load_space
from uer_ray.tune.domains import SpaceError


@pytest.fixture
def space_dict(tmp_path):
    return base_space(tmp_path)


def fails(tmp_path, space: dict, *needles: str) -> str:
    return fails_in_one_line(SpaceError, load_space, write_space(tmp_path, space, "bad.yaml"), *needles)


def test_bad_spaces_fail_naming_the_yaml_path(tmp_path, space_dict):
    s = space_dict
    fails(tmp_path, edit(s, "task", "clasify"), "task:", "did you mean 'classify'")
    fails(tmp_path, edit(s, "encoders.lstm.model", "lstmm"), "encoders.lstm.model",
          "unknown preset 'lstmm'")
    enc = edit(s, "encoders.lstm.model.encoder", "lstn")
    fails(tmp_path, enc, "encoders.lstm", "unknown encoder 'lstn'", "did you mean 'lstm'")
    fails(tmp_path, edit(s, "encoders.lstm.targets", ["lmm"]), "encoders.lstm.targets[0]",
          "did you mean 'lm'")
    fails(tmp_path, edit(s, "targets.lm", {"lmm": 1.0}), "unknown target 'lmm'")
    fails(tmp_path, edit(s, "finetune.batchsize", 8), "finetune.batchsize: unknown key",
          "did you mean 'batch_size'")
    fails(tmp_path, edit(s, "encoders.lstm.lr", {"loguniform": [1e-2, 1e-3]}),
          "encoders.lstm.lr.loguniform", "must be below")
    fails(tmp_path, edit(s, "encoders.lstm.lr", {"loguniform": [0, 1e-3]}), "must be > 0")
    fails(tmp_path, edit(s, "encoders.lstm.lr", {"logunifrom": [1e-4, 1e-3]}),
          "unknown domain 'logunifrom'", "did you mean 'loguniform'")
    fails(tmp_path, edit(s, "targets.lm.lm", -1), "targets.lm.lm", "must be >= 0")
    fails(tmp_path, edit(s, "data.dev", str(tmp_path / "nope.tsv")), "data.dev", "no such file")
    fails(tmp_path, edit(s, "stagee2", {}), "stagee2: unknown key", "did you mean 'stage2'")
    fails(tmp_path, edit(s, "stage2", KeyError), "no stage2 section")
    # dimensions that do not chain, and a target that does not suit the encoder
    wide = edit(s, "encoders.lstm.model.hidden_size", 48)
    fails(tmp_path, wide, "encoders.lstm with target set 'lm'", "tie_weights")
    leaky = edit(s, "encoders.transformer.targets", ["lm"])
    fails(tmp_path, leaky, "encoders.transformer with target set 'lm'", "sees it")
    fails(tmp_path, edit(s, "data.train", "${UER_RAY_NO_SUCH_VAR}/train.tsv"),
          "UER_RAY_NO_SUCH_VAR is not set")


def test_stage2_processor_names_a_one_document_processor_on_plain_text(tmp_path, space_dict):
    s = edit(space_dict, "stage2.format", "unlabelled")
    fails(tmp_path, edit(s, "stage2.processor", "t55"), "stage2.processor", "unknown processor 't55'",
          "did you mean 't5'")
    fails(tmp_path, edit(s, "stage2.processor", "gsg"), "stage2.processor", "'gsg' reads one sentence")
    fails(tmp_path, edit(space_dict, "stage2.processor", "t5"), "stage2.processor",
          "format: text", "unlabelled")
    assert load_space(write_space(tmp_path, edit(s, "stage2.processor", "mlm"), "ok.yaml")).stage2.processor == "mlm"


def test_paths_resolve_through_variables_and_the_file(tmp_path, space_dict, monkeypatch):
    s = edit(space_dict, "data.dev", "${UER_RAY_TEST_DATA}/dev.tsv")
    s = edit(s, "data.test", "data/test.tsv")  # relative to the space file
    monkeypatch.setenv("UER_RAY_TEST_DATA", str(tmp_path / "data"))
    space = load_space(write_space(tmp_path, s))
    assert space.data["dev"] == str(tmp_path / "data" / "dev.tsv")
    assert space.data["test"] == str(tmp_path / "data" / "test.tsv")


def test_proposals_respect_conditions_and_seeds(tmp_path, space_dict):
    s = edit(space_dict, "encoders.transformer.targets", ["none", "mlm+cls"])
    s = edit(s, "encoders.lstm.lr", {"loguniform": [1e-3, 1e-2]})
    s = edit(s, "encoders.transformer.lr", {"loguniform": [1e-5, 1e-4]})
    space = load_space(write_space(tmp_path, s))
    a = [space.sample(random.Random(3), 0) for _ in range(1)] + [space.sample(random.Random(3), 0)]
    assert a[0] == a[1]
    rng = random.Random(0)
    for config in (space.sample(rng, 7) for _ in range(60)):
        low, high = (1e-3, 1e-2) if config.encoder == "lstm" else (1e-5, 1e-4)
        assert low <= config.lr <= high  # the learning-rate range of its own encoder
        if config.stage2 == "none":
            assert config.stage2_steps is None and not config.targets
        else:
            assert config.stage2_steps == 12
        if config.encoder == "lstm":
            assert config.stage2 == "lm" and config.targets == {"lm": 1.0}
        if config.stage2 == "mlm+cls":
            assert 0.1 <= config.targets["cls"] <= 1.0 and config.targets["mlm"] == 1.0
        assert config.seed == 7 and config.finetune == {"epochs": 3, "batch_size": 16, "seq_length": 64}
    with pytest.raises(SpaceError, match="grid search needs"):
        space.require_grid()


def test_shipped_spaces_load(monkeypatch, tmp_path):
    from space_helpers import TINY_BERT
    from stage1_helpers import TINY_GCNN, TINY_LSTM, char_vocab, stage1_entry
    from uer_testing import FIXTURE_DATA, REPO

    # the spaces name their files under ${UER_RAY_DATA:-../../shared/data}; the bundled test data
    # has each of them (20-row heads; loading checks that they exist and reads the vocabulary)
    monkeypatch.setenv("UER_RAY_DATA", str(FIXTURE_DATA))
    monkeypatch.setenv("UER_RAY_CLUE_SPLITS", str(FIXTURE_DATA / "clue_splits"))  # cmrc2018, c3
    # the low-resource study starts from the entries of recipes/clue_small.yaml: tiny stand-ins
    zoo, vocab = tmp_path / "zoo", char_vocab(tmp_path / "vocab.txt")
    for name, config in (("clue+lstm+lm", TINY_LSTM), ("clue+gatedcnn+lm", TINY_GCNN),
                         ("clue+bert-tiny+mlm", TINY_BERT)):
        stage1_entry(tmp_path, zoo, name, config, vocab, aliases=("clue-small",))
    sizes = {}
    for path in sorted((REPO / "search_spaces").glob("*.yaml")):
        space = load_space(path, zoo=str(zoo))
        sizes[space.name] = space.size()
    assert sizes["uer-grid"] == 18 and sizes["msra_ner"] == 8 and sizes["book_review_lowres"] == 12
    assert set(sizes) - {"cmrc2018", "c3"} == {"book_review", "book_review_lowres", "msra_ner", "sst2", "uer-grid"}
    assert {"cmrc2018", "c3"} <= set(sizes)


def test_a_misspelt_space_file_suggests_its_neighbour(tmp_path, space_dict):
    path = write_space(tmp_path, space_dict, "book_review.yaml")
    fails_with = pytest.raises(SpaceError, match=r"no such search-space file \(did you mean .*book_review.yaml\?\)")
    with fails_with:
        load_space(path.with_name("book_reveiw.yaml"))


def test_a_search_store_that_cannot_be_reached_is_one_line(tmp_path, space_dict, capsys):
    """``--out s3://...`` makes the store the search's home; one the driver cannot reach is one
    line naming it and exit status 2, before Ray starts."""
    from uer_ray.cli import main

    path = write_space(tmp_path, space_dict)
    uri = "s3://bucket/search?endpoint_override=127.0.0.1:9&scheme=http"
    assert main(["search", "--space", str(path), "--out", uri]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "s3://bucket/search" in err[0], err
