"""``stage1`` per encoder: each encoder of a space may start from its own stage-1 model (a zoo
entry, a folder); the top-level ``stage1`` is the default. Checked before any trial, without Ray:
entries resolve (with "did you mean" over the zoo's names) and are pinned to a version, the
model comes from the checkpoint, the encoders share one tokenizer (encoders from scratch beside
them read it too) and the space has no vocabulary section — every refusal one line naming the YAML key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from space_helpers import base_space, write_space
from stage1_helpers import TINY_GCNN, TINY_LSTM, char_vocab, stage1_entry
from uer_testing import fails_in_one_line

from uer_ray.tune import load_space
from uer_ray.tune.domains import SpaceError


@pytest.fixture(scope="module")
def entries(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stage1")
    zoo = folder / "zoo"
    vocab = char_vocab(folder / "vocab.txt")
    refs = {"lstm": stage1_entry(folder, zoo, "clue+lstm+lm", TINY_LSTM, vocab),
            "gatedcnn": stage1_entry(folder, zoo, "clue+gatedcnn+lm", TINY_GCNN, vocab),
            "other": stage1_entry(folder, zoo, "wiki+lstm+lm", TINY_LSTM,
                                  char_vocab(folder / "other.txt", extra="ABC"))}
    return zoo, refs


def stage1_space(tmp_path, refs: dict) -> dict:
    s = base_space(tmp_path)
    del s["vocabulary"]
    s["encoders"] = {
        "lstm": {"stage1": "zoo:clue+lstm+lm@latest", "lr": 1e-2, "targets": ["none", "lm"]},
        "gatedcnn": {"stage1": "zoo:clue+gatedcnn+lm", "lr": 1e-3, "targets": ["lm"]},
    }
    return s


def fails(tmp_path, space: dict, zoo, *needles: str) -> str:
    return fails_in_one_line(SpaceError, lambda p: load_space(p, zoo=str(zoo)),
                             write_space(tmp_path, space, "bad.yaml"), *needles)


def test_each_encoder_starts_from_its_own_entry_pinned_to_a_version(tmp_path, entries):
    zoo, refs = entries
    space = load_space(write_space(tmp_path, stage1_space(tmp_path, refs)), zoo=str(zoo))
    assert space.encoders["lstm"].stage1 == refs["lstm"]  # @latest pinned to the version
    assert space.encoders["gatedcnn"].stage1 == refs["gatedcnn"]
    assert space.encoders["lstm"].model is None and space.from_checkpoints
    assert space.combinations() == [("lstm", "none"), ("lstm", "lm"), ("gatedcnn", "lm")]


def test_the_top_level_stage1_is_the_default(tmp_path, entries):
    zoo, refs = entries
    s = stage1_space(tmp_path, refs)
    s["stage1"] = "zoo:clue+lstm+lm"
    del s["encoders"]["lstm"]["stage1"]
    space = load_space(write_space(tmp_path, s), zoo=str(zoo))
    assert space.encoders["lstm"].stage1 == refs["lstm"]
    assert space.encoders["lstm"].stage1_key == "stage1"
    assert space.encoders["gatedcnn"].stage1_key == "encoders.gatedcnn.stage1"


def test_stage1_refusals_are_one_line(tmp_path, entries):
    zoo, refs = entries
    s = stage1_space(tmp_path, refs)
    bad = copy.deepcopy(s)
    bad["encoders"]["lstm"]["stage1"] = "zoo:clue+lsmt+lm"
    fails(tmp_path, bad, zoo, "encoders.lstm.stage1", "no zoo entry 'clue+lsmt+lm'",
          "did you mean 'clue+lstm+lm'")
    bad["encoders"]["lstm"]["stage1"] = "zoo:clue+lstm+lm@lastest"
    fails(tmp_path, bad, zoo, "encoders.lstm.stage1", "did you mean 'latest'")
    bad = copy.deepcopy(s)
    bad["vocabulary"] = {"tokenizer": "char", "size": 3000}
    fails(tmp_path, bad, zoo, "vocabulary", "drop the vocabulary section")
    bad = copy.deepcopy(s)
    bad["encoders"]["gatedcnn"]["stage1"] = "zoo:wiki+lstm+lm"
    fails(tmp_path, bad, zoo, "encoders.gatedcnn.stage1", "different tokenizers", "size")
    bad = copy.deepcopy(s)
    bad["encoders"]["lstm"]["model"] = dict(TINY_LSTM)
    fails(tmp_path, bad, zoo, "encoders.lstm.model", "drop model")
    bad = copy.deepcopy(s)
    del bad["encoders"]["gatedcnn"]["stage1"]
    fails(tmp_path, bad, zoo, "encoders.gatedcnn.model: required key is missing")
    bad = copy.deepcopy(s)
    bad["encoders"]["lstm"]["stage1"] = str(tmp_path / "no-such-run")
    fails(tmp_path, bad, zoo, "encoders.lstm.stage1: no such file")


def test_an_encoder_from_scratch_beside_stage1_entries_shares_their_tokenizer(tmp_path, entries):
    """The study of what stage 1 is worth: the same encoder from scratch and from its entry. The
    scratch encoder reads the entries' vocabulary, written out by the search's inputs step, and
    builds the very tokenizer the entries carry."""
    from uer_ray.tokenizers import build_tokenizer, load_tokenizer
    from uer_ray.tune.prepare import _vocabulary
    from uer_ray.zoo import resolve_checkpoint

    zoo, refs = entries
    s = stage1_space(tmp_path, refs)
    s["encoders"]["lstm-scratch"] = {"model": dict(TINY_LSTM), "lr": 1e-3, "targets": ["none", "lm"]}
    space = load_space(write_space(tmp_path, s), zoo=str(zoo))
    assert not space.encoders["lstm-scratch"].from_checkpoint
    assert ("lstm-scratch", "lm") in space.combinations()
    vocab, kind = _vocabulary(space, tmp_path / "search", {}, zoo=str(zoo))
    entry = load_tokenizer(Path(resolve_checkpoint(refs["lstm"], zoo=str(zoo))) / "tokenizer")
    assert kind == entry.name
    rebuilt = build_tokenizer(kind, vocab=vocab)
    assert rebuilt.describe()["sha256"] == entry.describe()["sha256"]
    assert rebuilt.vocab_size == entry.vocab_size
    # an all-checkpoint space needs no vocabulary file
    del s["encoders"]["lstm-scratch"]
    space = load_space(write_space(tmp_path, s), zoo=str(zoo))
    assert _vocabulary(space, tmp_path / "search2", {}, zoo=str(zoo))[0] is None


def test_the_checkpoint_config_meets_the_stage2_targets(tmp_path, entries):
    """The build check uses the stage-1 model's config: mlm over the LSTM builds, but a
    stage-2 target set whose columns text shards lack does not."""
    zoo, refs = entries
    s = stage1_space(tmp_path, refs)
    s["stage2"]["format"] = "text"
    s["encoders"]["lstm"]["targets"] = ["mlm+cls"]
    fails(tmp_path, s, zoo, "encoders.lstm with target set 'mlm+cls'", "'label' column")
