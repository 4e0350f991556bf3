"""``run.py quickstart --quick``: the whole loop (vocab, preprocess, pre-train on 2 Ray workers,
fine-tune with and without pre-training, predict) on the bundled samples."""

from __future__ import annotations

import json

import pytest

from uer_ray.cli import main


@pytest.mark.ray
@pytest.mark.slow
def test_quickstart_quick(ray_session, tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["quickstart", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "no pre-training" in printed and "with pre-training" in printed
    report = json.loads((out / "quickstart.json").read_text(encoding="utf-8"))
    for name in ("no pre-training", "with pre-training"):
        r = report["results"][name]
        assert 0.0 <= r["test_accuracy"] <= 1.0 and r["seconds_per_epoch"] > 0
    pre = json.loads((out / "finetune-pretrained" / "metrics.json").read_text(encoding="utf-8"))
    assert pre["format"] == "uer_ray.result/1" and pre["parent"]["relation"] == "fine-tuned from"
    assert "pretrain" in pre["results"]["source"]  # initialised from the pre-trained checkpoint
    assert pre["parent"]["stage"] == "pretrain"
    rows = (out / "predictions.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "label\tprob_0\tprob_1" and len(rows) == 1001


def test_samples_are_bundled():
    from uer_ray.cli.quickstart import sample_dir

    d = sample_dir()
    for name, rows in (("train.tsv", 2001), ("dev.tsv", 501), ("test.tsv", 1001), ("corpus.txt", 8000)):
        lines = (d / name).read_text(encoding="utf-8").splitlines()
        assert len(lines) == rows, name
    assert lines[0] and "\t" not in lines[0]  # the corpus is text only
    dev_test = {ln.split("\t", 1)[1] for f in ("dev.tsv", "test.tsv") for ln in (d / f).read_text(encoding="utf-8").splitlines()[1:]}
    assert not dev_test & set(lines)  # no evaluation text in the pre-training corpus
