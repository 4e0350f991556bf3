"""Bad configs fail at build time with a message naming the problem."""

from __future__ import annotations

import pytest
from tiny_models import VOCAB, tiny

from uer_ray.config import ConfigError
from uer_ray.models import build_model


def _fails(match: str, exc=ConfigError, **overrides):
    with pytest.raises(exc, match=match):
        build_model(tiny(**overrides), vocab_size=VOCAB, tgt_vocab_size=VOCAB)


def test_unknown_encoder_suggests_a_name():
    _fails(r"unknown encoder 'transfomer'; did you mean 'transformer'", KeyError, encoder="transfomer")


def test_unknown_embedding_target_and_decoder():
    _fails(r"unknown embedding 'segg'; did you mean 'seg'", KeyError, embedding=["word", "segg"])
    _fails(r"unknown target 'mlmm'; did you mean 'mlm'", KeyError, targets={"mlmm": 1.0})
    _fails(r"unknown decoder 'transfromer'", KeyError, targets={"mt": 1.0}, decoder="transfromer")
    _fails(r"unknown subencoder 'char_cn'; did you mean 'char_cnn'", KeyError,
           embedding=["word", "subword"], embedding_options={"subword": {"subencoder": "char_cn"}})


def test_dimension_mismatch_in_a_stack_names_both_sides():
    _fails(r"dimension mismatch: encoder 'lstm' \(stack position 0\) outputs width 8 but encoder "
           r"'transformer' \(stack position 1\) expects input width 16",
           encoder=["lstm", "transformer"], encoder_options={"lstm": {"hidden_size": 8}})


def test_dimension_mismatch_after_the_embedding():
    _fails(r"the embedding \(emb_size 8\) outputs width 8 but encoder 'transformer' expects input width 16",
           emb_size=8)


def test_target_that_needs_a_decoder_without_one():
    _fails(r"targets.mt: target 'mt' needs a decoder \(this model is encoder-only\); "
           r"set \"decoder\": \"transformer\"", targets={"mt": 1.0})


def test_mt_without_target_vocabulary():
    with pytest.raises(ConfigError, match="needs tgt_vocab_size"):
        build_model(tiny(targets={"mt": 1.0}, decoder="transformer"), vocab_size=VOCAB)


def test_bilm_needs_a_bidirectional_encoder():
    _fails(r"'bilm' needs a bidirectional last encoder .* got 'transformer'", targets={"bilm": 1.0})


@pytest.mark.parametrize("key, path", [("hidden_size", "config: hidden_size must be > 0"),
                                        ("layers", "config: layers must be > 0"),
                                        ("heads", "config: heads must be > 0")])
def test_negative_sizes(key, path):
    _fails(path + ", got -2", **{key: -2})


def test_negative_size_in_options_names_the_key_path():
    _fails(r"encoder_options.lstm: layers must be > 0, got -1", encoder="lstm",
           encoder_options={"lstm": {"layers": -1}})
    _fails(r"embedding_options: factorized_size must be > 0, got 0",
           embedding_options={"factorized_size": 0})


def test_unknown_option_key_and_option_for_a_missing_module():
    _fails(r"encoder_options.transformer.hiden_size: unknown key; did you mean 'hidden_size'",
           encoder_options={"transformer": {"hiden_size": 3}})
    _fails(r"encoder_options.lstm: not a module of this model \(it has: transformer\)",
           encoder_options={"lstm": {"layers": 1}})
    _fails(r"config.targts: unknown key; did you mean 'targets'", targts={"mlm": 1.0})


def test_heads_must_divide_hidden_size_and_vocab_size_is_required():
    _fails(r"hidden_size 16 is not divisible by heads 3", heads=3)
    with pytest.raises(ConfigError, match="vocab_size is not set"):
        build_model(tiny())


def test_negative_target_weight():
    _fails(r"targets.sp: weight must be >= 0, got -1.0", targets={"mlm": 1.0, "sp": -1.0})
