"""What pretrain checks before it starts: the vocabulary against the shard manifest, the targets
against the shard columns, the output folder against an earlier run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from uer_ray.errors import MismatchError, UerRayError
from uer_ray.train.inputs import (
    check_targets,
    check_word_masking,
    load_shard_info,
    model_config_for,
)
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


def test_small_corpus_goes_to_ray_data_as_blocks_in_a_seeded_file_order(ray_session, tmp_path):
    """A corpus that fits in memory is read by the driver, file by file in the seed's order,
    and handed to Ray Data as blocks: the dataset holds every row of every shard, exactly once,
    in that order; a large one (or ``--cache-data off``) is left to Ray Data's reader."""
    import numpy as np
    import pyarrow.parquet as pq
    from uer_testing import data_file

    from uer_ray.train.inputs import build_dataset
    from uer_ray.train.pretrain import CACHE_AUTO_BYTES, data_in_memory

    tok = load_shard_info(LEGACY_SHARDS).tokenizer
    text = data_file("corpora/CLUECorpusSmall_sampled.txt").read_text(encoding="utf-8").split("\n")[:60]
    root = _shard_folder(tmp_path / "s", tok, text, shards=3)
    info = load_shard_info(root)
    opts = PretrainOptions(model="m", data=str(root), out="o", seed=11)
    assert data_in_memory(opts, info.manifest)
    assert not data_in_memory(PretrainOptions(model="m", data="d", out="o", cache_data="off"), info.manifest)
    big = {**info.manifest, "tokens": CACHE_AUTO_BYTES}  # over the limit, even cached per worker
    assert not data_in_memory(PretrainOptions(model="m", data="d", out="o", cache_data="on"), big)

    files = sorted(root.glob("shard-*.parquet"))
    order = np.random.default_rng(11).permutation(3)
    want = [row for i in order for row in pq.read_table(files[i]).column("input_ids").to_pylist()]
    from ray.data.dataset import MaterializedDataset

    ds, _ = build_dataset(opts, info, in_memory=True)
    assert isinstance(ds, MaterializedDataset)  # blocks already in the object store: no read tasks
    assert [list(r) for r in ds.to_pandas()["input_ids"]] == want
    streamed, _ = build_dataset(opts, info)
    assert not isinstance(streamed, MaterializedDataset)
    assert sorted(tuple(r) for r in streamed.to_pandas()["input_ids"]) == sorted(map(tuple, want))


def _shard_folder(root, tok, lines, segment=None, shards=1):
    """An mlm folder of ``shards`` shards as preprocess writes it, made in-process (no Ray)."""
    import numpy as np
    import pyarrow.parquet as pq

    from uer_ray.data import PROCESSORS, ProcessorConfig
    from uer_ray.data.corpus import SkipLog
    from uer_ray.data.shards import MANIFEST

    proc = PROCESSORS.get("mlm")(tok, ProcessorConfig(seq_length=32, segment=segment))
    table = proc.instances("c.txt", lines, list(range(1, len(lines) + 1)), np.random.default_rng(0), SkipLog())
    root.mkdir(parents=True)
    listed = []
    for k, part in enumerate(np.array_split(np.arange(table.num_rows), shards)):
        name = f"shard-{k:05d}.parquet"
        pq.write_table(table.take(part), root / name)
        listed.append({"file": name, "instances": len(part)})
    tok.save(root / "tokenizer")
    manifest = {"format_version": 1, "processor": "mlm", "columns": proc.written_columns,
                "seq_length": 32, "tokenizer": tok.describe(), "tokens": 1000, "shards": listed}
    (root / MANIFEST).write_text(json.dumps(manifest))
    return root


LEGACY_SHARDS = Path(__file__).resolve().parents[1] / "fixtures" / "legacy" / "shards"
MLM_ONLY = {"embedding": ["word", "pos", "seg"], "encoder": "transformer", "targets": {"mlm": 1.0},
            "hidden_size": 32, "layers": 1, "heads": 2, "ffn_size": 64, "max_seq_length": 64}


@pytest.mark.parametrize("strategy", ["whole_word", "span"])
def test_word_masking_on_unsegmented_chinese_is_refused(strategy):
    info = load_shard_info(LEGACY_SHARDS)  # Chinese, char tokenizer, no segmentation
    config = model_config_for(MLM_ONLY, info, targets=None, init=None)
    with pytest.raises(MismatchError, match=rf"^--masking {strategy}: \d+% of the tokens in .* are "
                       r"Chinese, .*every word would be one character; run `run.py preprocess` "
                       r"again with --segment jieba \(or use --masking token\)$"):
        check_word_masking(strategy, config, info)
    check_word_masking("token", config, info)  # token masking needs no words
    lm = model_config_for({**MLM_ONLY, "targets": {"lm": 1.0}}, info, targets=None, init=None)
    check_word_masking(strategy, lm, info)  # nothing is masked


def test_word_masking_on_segmented_or_english_shards_goes_ahead(tmp_path):
    from uer_testing import data_file

    from uer_ray.tokenizers import build_tokenizer, load_tokenizer

    zh = load_tokenizer(LEGACY_SHARDS / "tokenizer")
    text = data_file("corpora/CLUECorpusSmall_sampled.txt").read_text(encoding="utf-8").split("\n")[:40]
    segmented = load_shard_info(_shard_folder(tmp_path / "zh", zh, text, segment="jieba"))
    assert "continues_word" in segmented.columns
    check_word_masking("whole_word", model_config_for(MLM_ONLY, segmented, targets=None, init=None),
                       segmented)
    en = build_tokenizer("wordpiece", vocab=data_file("vocab/google_uncased_en_vocab.txt"))
    text = data_file("corpora/wikitext2_valid.txt").read_text(encoding="utf-8").split("\n")[:80]
    english = load_shard_info(_shard_folder(tmp_path / "en", en, text))
    check_word_masking("whole_word", model_config_for(MLM_ONLY, english, targets=None, init=None),
                       english)


def test_pretrain_command_refuses_in_one_line_before_ray(tmp_path, capsys):
    import ray

    from uer_ray.cli import main as cli_main

    model = tmp_path / "m.json"
    model.write_text(json.dumps(MLM_ONLY))
    was_up = ray.is_initialized()
    rc = cli_main(["pretrain", "--model", str(model), "--data", str(LEGACY_SHARDS),
                   "--out", str(tmp_path / "run"), "--masking", "whole_word", "--steps", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "--masking whole_word" in err and "--segment jieba" in err
    assert ray.is_initialized() == was_up and not (tmp_path / "run").exists()
