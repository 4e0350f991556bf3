"""The Skip-thoughts preset end to end, as a user runs it: ``preprocess --processor skipthought``
on the bundled bert-format corpus, ``pretrain --model`` the preset (shrunk to tiny sizes) on the
session's Ray cluster, where the loss falls, then ``finetune --init`` its checkpoint on a slice
of the book_review sample (a tiny GRU learns little of it in two epochs: the check is that the
pre-trained encoder fine-tunes, its training loss falling)."""

from __future__ import annotations

import json

import pytest
from uer_testing import SAMPLES, data_file

from uer_ray.cli import main
from uer_ray.models import load_preset
from uer_ray.tracking import read_metrics

pytestmark = pytest.mark.ray


def _slice(src, dst, rows: int):
    lines = src.read_text(encoding="utf-8").splitlines()[: rows + 1]  # with the header
    dst.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dst


def test_skip_thoughts_preset_pretrains_and_fine_tunes(ray_session, tmp_path):
    corpus = tmp_path / "corpus.txt"
    lines = data_file("corpora/CLUECorpusSmall_bert_sampled.txt").read_text(encoding="utf-8").splitlines()
    corpus.write_text("\n".join(lines[:800]) + "\n", encoding="utf-8")
    train = _slice(SAMPLES / "book_review" / "train.tsv", tmp_path / "train.tsv", 600)
    dev = _slice(SAMPLES / "book_review" / "dev.tsv", tmp_path / "dev.tsv", 200)
    # a character vocabulary of these texts: a few thousand entries keep the decoders' softmax
    # (and the test) an order of magnitude cheaper than the 21,128 of google_zh_vocab
    vocab = tmp_path / "vocab.txt"
    assert main(["vocab", "--corpus", str(corpus), str(train), str(dev), "--tokenizer", "char",
                 "--size", "4000", "--out", str(vocab)]) == 0
    shards = tmp_path / "shards"
    assert main(["preprocess", "--corpus", str(corpus), "--processor", "skipthought", "--tokenizer",
                 "char", "--vocab", str(vocab), "--seq-length", "48", "--out", str(shards),
                 "--no-progress"]) == 0
    manifest = json.loads((shards / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["columns"] == ["input_ids", "segment_ids", "prev_ids", "next_ids"]
    assert manifest["instances"] > 300

    model = tmp_path / "skip-thoughts-tiny.json"  # the preset, only smaller
    model.write_text(json.dumps({**load_preset("skip-thoughts"), "emb_size": 32, "hidden_size": 64}))
    out = tmp_path / "pretrain"
    assert main(["pretrain", "--model", str(model), "--data", str(shards), "--out", str(out),
                 "--steps", "30", "--batch-size", "16", "--lr", "0.003", "--warmup", "2",
                 "--log-every", "5", "--save-every", "30", "--workers", "1", "--seed", "3",
                 "--deterministic", "--wandb-mode", "disabled"]) == 0
    records = read_metrics(out / "metrics.jsonl")
    first, last = records[0]["skipthought/loss"], records[-1]["skipthought/loss"]
    print(f"skipthought/loss {first:.3f} -> {last:.3f}")
    assert last < first - 0.8

    # fine-tuning reads the sentence vector where pre-training did: the GRU's last state
    ft = tmp_path / "finetune"
    assert main(["finetune", "--task", "classify", "--init", str(out / "final"), "--train", str(train),
                 "--dev", str(dev), "--out", str(ft), "--epochs", "2", "--batch-size", "32", "--lr", "0.01",
                 "--pooling", "last", "--seq-length", "64", "--device", "cpu", "--quiet",
                 "--wandb-mode", "disabled"]) == 0
    results = json.loads((ft / "metrics.json").read_text(encoding="utf-8"))["results"]
    history = results["history"]
    print(f"fine-tuned train loss {history[0]['train/loss']:.3f} -> {history[-1]['train/loss']:.3f}, "
          f"dev accuracy {results['dev']['accuracy']:.3f}")
    assert str(out / "final") in results["source"] and results["examples"] == {"train": 600, "dev": 200}
    assert history[-1]["train/loss"] < history[0]["train/loss"]
    assert 0.0 <= results["dev"]["accuracy"] <= 1.0
