"""Checkpoints, shards, runs and zoo entries written before the module refactor still load and
give the same numbers (tests/fixtures/legacy/README.md says how they were made)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import uer_ray

LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy"
EXPECTED = json.loads((LEGACY / "expected.json").read_text())


def _mlm_logits(model) -> torch.Tensor:
    ids = torch.tensor(EXPECTED["input_ids"])
    return model.logits(ids, (ids != 0).long())["mlm"]


def _check_mlm(logits: torch.Tensor) -> None:
    assert float(logits.double().sum()) == pytest.approx(EXPECTED["mlm_logits_sum"], rel=1e-6)
    torch.testing.assert_close(logits[0, 1, :8], torch.tensor(EXPECTED["mlm_logits_first"]))


def test_a_pretrained_checkpoint_gives_the_same_logits():
    _check_mlm(_mlm_logits(uer_ray.load_model(LEGACY / "pretrain" / "final")))


def test_a_finetuned_model_predicts_the_same():
    from uer_ray.tasks.batching import collate
    from uer_ray.tasks.checkpoint import load_finetuned

    ft, task, labels, settings, tok = load_finetuned(LEGACY / "finetuned")
    dev = str(LEGACY / "data" / "dev.tsv")
    examples = task.encode(task.read(dev), dev, tok, labels, settings.seq_length)
    batch = collate(examples, tok.pad_id)
    with torch.no_grad():
        probs = task.predict(ft.head, ft(batch["input_ids"], batch["segment_ids"]), batch)
    torch.testing.assert_close(torch.tensor(probs), torch.tensor(EXPECTED["finetuned_dev_probs"]))


def test_a_zoo_entry_verifies_and_loads(tmp_path, monkeypatch):
    zoo = tmp_path / "zoo"
    shutil.copytree(LEGACY / "zoo", zoo)
    monkeypatch.setenv("UER_RAY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("UER_RAY_ZOO", str(zoo))
    from uer_ray.zoo import Zoo

    assert Zoo(str(zoo)).verify("zoo:legacy-tiny@latest") == []
    _check_mlm(_mlm_logits(uer_ray.load_model("zoo:legacy-tiny@latest")))


def test_a_stored_run_and_its_shards_still_read():
    from uer_ray.train.inputs import check_targets, load_shard_info, model_config_for
    from uer_ray.train.pretrain import PretrainOptions

    run = json.loads((LEGACY / "pretrain" / "run.json").read_text())
    options = PretrainOptions.from_dict(run["options"])
    assert options.steps == 4 and options.masking == "token"
    info = load_shard_info(LEGACY / "shards")
    assert info.processor == "mlm" and info.vocab_size == info.tokenizer.vocab_size
    config = model_config_for(str(LEGACY / "tiny.json"), info, targets=None, init=None)
    check_targets(config, info)


@pytest.mark.ray
def test_stage_two_from_the_old_checkpoint_on_the_old_shards(ray_session, tmp_path):
    """Ray Data streams the old shards into Ray Train workers that start from the old weights."""
    from uer_ray.train.pretrain import PretrainOptions, pretrain

    record = pretrain(PretrainOptions(init=str(LEGACY / "pretrain" / "final"),
                                      data=str(LEGACY / "shards"), out=str(tmp_path / "stage2"),
                                      steps=2, batch_size=8, save_every=2, log_every=1,
                                      wandb_mode="disabled", progress=False))
    assert record["results"]["steps"] == 2
    assert uer_ray.load_model(tmp_path / "stage2" / "final").config.targets == {"mlm": 1.0}
