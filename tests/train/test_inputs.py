"""What pretrain checks before it starts: the vocabulary against the shard manifest, the targets
against the shard columns, the output folder against an earlier run."""

from __future__ import annotations

import pytest

from uer_ray.errors import MismatchError, UerRayError
from uer_ray.train.inputs import check_targets, load_shard_info, model_config_for
from uer_ray.train.pretrain import PretrainOptions, pretrain


def test_refuses_a_vocabulary_that_does_not_match_the_shards(bert_shards, zh_vocab):
    en_vocab = str(zh_vocab).replace("google_zh_vocab.txt", "google_uncased_en_vocab.txt")
    with pytest.raises(MismatchError, match="differ in .*size 21128 vs 30522"):
        load_shard_info(bert_shards, vocab=en_vocab)
    info = load_shard_info(bert_shards, vocab=zh_vocab)
    assert info.processor == "bert" and "is_next" in info.columns
    # without --vocab, the tokenizer that preprocess saved beside the shards is used
    assert load_shard_info(bert_shards).tokenizer.describe() == info.tokenizer.describe()


def test_model_config_takes_sizes_and_checks_targets(bert_shards, zh_vocab, tiny_bert_json):
    info = load_shard_info(bert_shards, vocab=zh_vocab)
    config = model_config_for(tiny_bert_json, info, targets={"mlm": 1.0, "sp": 0.5}, init=None)
    assert config["vocab_size"] == 21128 and config["targets"] == {"mlm": 1.0, "sp": 0.5}
    check_targets(config, info)
    bad = model_config_for(tiny_bert_json, info, targets={"mlm": 1.0, "mt": 1.0}, init=None)
    with pytest.raises(MismatchError, match="'mt' needs the 'tgt_ids' column.*processor 'bert'"):
        check_targets(bad, info)


def test_refuses_to_overwrite_an_earlier_run(bert_shards, zh_vocab, tiny_bert_json, tmp_path):
    (tmp_path / "run.json").write_text("{}")
    opts = PretrainOptions(
        model=tiny_bert_json, data=str(bert_shards), out=str(tmp_path), vocab=zh_vocab
    )
    with pytest.raises(UerRayError, match="already holds a pre-training run"):
        pretrain(opts)
    with pytest.raises(UerRayError, match="no run to resume"):
        pretrain(
            PretrainOptions(
                model=tiny_bert_json, data=str(bert_shards), out=str(tmp_path / "new"), resume=True
            )
        )


def test_worker_spec_paths_are_absolute(bert_shards, zh_vocab, tiny_bert_json, tmp_path, monkeypatch):
    """Ray Train workers run in their own working directory: a relative --init must not reach them."""
    import dataclasses

    from uer_ray.train.pretrain import cache_data, worker_spec

    monkeypatch.chdir(tmp_path)
    info = load_shard_info(bert_shards, vocab=zh_vocab)
    config = model_config_for(tiny_bert_json, info, targets=None, init=None)
    opts = PretrainOptions(model=tiny_bert_json, data=str(bert_shards), out="out", init="stage1/final")
    spec = worker_spec(opts, info, config)
    assert spec.init == str(tmp_path / "stage1" / "final")
    assert spec.meta["data"] == str(bert_shards.absolute())
    fields = {f.name for f in dataclasses.fields(spec)}
    assert not any("path" in f or "wandb" in f for f in fields)  # the driver writes the log
    assert spec.masking is not None and spec.masking.prob == opts.mask_prob  # mlm asks for it
    # small shards are kept in memory unless told otherwise
    assert cache_data(opts, info.manifest) is True
    assert cache_data(PretrainOptions(model="m", data="d", out="o", cache_data="off"), info.manifest) is False


def test_cache_estimate_counts_every_token_column():
    """The in-memory estimate counts each id-list column (skipthought's neighbours too), not
    the scalar ones."""
    from uer_ray.train.pretrain import CACHE_AUTO_BYTES, cache_data

    opts = PretrainOptions(model="m", data="d", out="o", workers=1)
    tokens = CACHE_AUTO_BYTES // (4 * 3)  # fits as three int32 token columns, not as four
    assert cache_data(opts, {"columns": ["input_ids", "segment_ids", "tgt_ids", "is_next"], "tokens": tokens})
    assert not cache_data(opts, {"columns": ["input_ids", "segment_ids", "prev_ids", "next_ids"],
                                 "tokens": tokens})
