"""``uer_ray.finetune`` as a library function: a model config dict, one ``on_epoch`` call per
epoch with the dev metric, options that round-trip through a plain dict to the same run, and
options that are never modified."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from task_helpers import TINY_LSTM

import uer_ray
from uer_ray.errors import ConfigError


def _options(files, vocab, out, **kw) -> uer_ray.FinetuneOptions:
    base = dict(task="classify", train=str(files["train"]), dev=str(files["dev"]),
                test=str(files["dev"]), out=str(out), model=dict(TINY_LSTM), vocab=str(vocab),
                tokenizer="char", epochs=3, batch_size=16, lr=0.01, progress=False,
                wandb_mode="disabled", dataset="constructed", device="cpu")
    base.update(kw)
    return uer_ray.FinetuneOptions(**base)


def test_config_dict_on_epoch_and_dict_round_trip(sentiment_files, char_vocab, tmp_path):
    options = _options(sentiment_files, char_vocab, tmp_path / "a")
    before = options.to_dict()
    seen = []
    record = uer_ray.finetune(options, on_epoch=seen.append)
    assert options.to_dict() == before  # nothing modified the options
    assert [r["epoch"] for r in seen] == [1, 2, 3]
    assert all(0.0 <= r["dev/accuracy"] <= 1.0 and "train/loss" in r for r in seen)
    assert [r["dev/accuracy"] for r in seen] == [r["dev/accuracy"] for r in record["results"]["history"]]

    data = json.loads(json.dumps({**options.to_dict(), "out": str(tmp_path / "b")}))
    again = uer_ray.FinetuneOptions.from_dict(data)
    assert again == _options(sentiment_files, char_vocab, tmp_path / "b")
    record_b = uer_ray.finetune(again)
    for a, b in zip(record["results"]["history"], record_b["results"]["history"], strict=True):
        assert (a["dev/accuracy"], a["train/loss"]) == (b["dev/accuracy"], b["train/loss"])
    wa, wb = load_file(str(tmp_path / "a" / "head.safetensors")), load_file(str(tmp_path / "b" / "head.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa), "the same options gave different weights"


def test_the_record_has_the_shared_shape(sentiment_files, char_vocab, tmp_path):
    record = uer_ray.finetune(_options(sentiment_files, char_vocab, tmp_path / "r", epochs=1))
    on_disk = json.loads((tmp_path / "r" / "metrics.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(record))
    for key in ("format", "stage", "name", "model", "data", "parent", "options", "results",
                "metrics", "provenance", "checkpoint", "seconds", "device", "package", "created"):
        assert key in record, key
    assert record["model"]["encoder"] == ["lstm"] and record["model"]["parameters"] > 0
    files = record["data"]["finetune"]["files"]
    assert set(files) == {"train", "dev", "test"} and len(files["train"]["sha256"]) == 64
    rows = {(m["split"], m["metric"]): m["value"] for m in record["metrics"]}
    assert rows[("dev", "accuracy")] == record["results"]["dev"]["accuracy"]
    assert {m["dataset"] for m in record["metrics"]} == {"constructed"}
    assert record["parent"] is None and record["device"] == "cpu"


def test_unknown_option_key_names_its_path():
    with pytest.raises(ConfigError, match=r"FinetuneOptions\.epoch: unknown key; did you mean 'epochs'"):
        uer_ray.FinetuneOptions.from_dict({"task": "classify", "train": "t", "dev": "d", "out": "o",
                                           "epoch": 3})


def test_grad_accum_matches_a_larger_batch(sentiment_files, char_vocab, tmp_path):
    """--grad-accum 2 with batches of 8: half as many optimiser steps as batches, and the model
    still learns the task."""
    record = uer_ray.finetune(_options(sentiment_files, char_vocab, tmp_path / "g", batch_size=8,
                                       grad_accum=2, epochs=4))
    history = record["results"]["history"]
    assert history[0]["optimizer_steps"] == 10  # 20 batches of 8, two per step
    assert record["results"]["dev"]["accuracy"] >= 0.9


@pytest.mark.parametrize("preset", ["bert-tiny", "lstm-tiny"])
def test_init_transfers_every_embedding_and_encoder_weight(char_vocab, tmp_path, preset):
    """``--init`` starts fine-tuning from all of the checkpoint's embedding and encoder weights —
    word, position and segment tables, the embedding LayerNorm, every layer — bit for bit; only
    the pre-training targets stay behind (the task head is new)."""
    from uer_ray.models import build_model, load_preset, save_pretrained
    from uer_ray.tasks.checkpoint import TaskSettings, build_finetune_model, build_task
    from uer_ray.tokenizers import build_tokenizer
    from uer_ray.train.finetune import load_base

    tok = build_tokenizer("char", vocab=str(char_vocab))
    config = load_preset("bert-tiny") if preset == "bert-tiny" else dict(TINY_LSTM)
    torch.manual_seed(3)
    source = build_model(config, vocab_size=tok.vocab_size)
    with torch.no_grad():  # weights no fresh model has (LayerNorm scales 1, biases 0)
        for p in source.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    folder = save_pretrained(source, tmp_path / "ckpt", tokenizer=tok)
    o = _options({"train": "t", "dev": "d"}, None, tmp_path / "out", model=None, init=str(folder))
    model, _, _ = load_base(o, str(folder))
    settings = TaskSettings(task="classify", labels=["0", "1"], pooling="first", seq_length=32,
                            columns=["text_a"])
    task, _ = build_task(settings)
    ft = build_finetune_model(model, task, settings)
    got = {k: v for k, v in ft.state_dict().items()}
    want = {k: v for k, v in source.state_dict().items() if k.startswith(("embedding.", "encoder."))}
    assert want and any("position" in k or "pos" in k for k in want) == (preset == "bert-tiny")
    for k, v in want.items():
        match = [g for g in got if g.endswith(k)]
        assert match, f"{k} was not carried over"
        assert torch.equal(got[match[0]], v), k
