"""``run.py quickstart --quick``: the platform's loop in small on the bundled samples — a search
over an LSTM from random weights and from the bundled stage-1 model, with and without stage-2
pre-training, and BERT-tiny; the leaderboard; test scores with each pre-trained configuration's
paired interval against the LSTM from random weights; the winner in the zoo and predictions
through its zoo: ref."""

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
    assert "| trial |" in printed  # the search's leaderboard
    assert "Pre-training the LSTM" in printed and "paired bootstrap" in printed
    assert "Published to the zoo as" in printed
    report = json.loads((out / "quickstart.json").read_text(encoding="utf-8"))
    combos = {(r["encoder"], r["stage2"]) for r in report["rows"]}
    assert combos == {("transformer", "none"), ("lstm", "none"), ("lstm", "lm"),
                      ("lstm-clue", "none"), ("lstm-clue", "lm")}
    assert all(0.0 <= r["test_accuracy"] <= 1.0 for r in report["rows"])
    assert report["test_rows"] == 300 and report["zoo_entry"]
    # every configuration but the baseline is compared with it on the same rows
    gains = {(r["encoder"], r["stage2"]): r.get("gain") for r in report["rows"]}
    assert gains.pop(("lstm", "none")) is None
    assert all(g["low"] <= g["points"] <= g["high"] for g in gains.values())
    rows = (out / "predictions.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "label\tprob_0\tprob_1" and len(rows) == 8001
    from uer_ray.zoo import Zoo

    zoo = Zoo(str(out / "zoo"))
    name = report["zoo_entry"].split("@")[0]
    entry = zoo.record(*zoo.resolve(f"{name}@best-book_review"))
    assert entry["provenance"]["search"] and entry["kind"] == "fine-tuned"


def test_samples_are_bundled():
    from uer_ray.cli.quickstart import sample_dir

    d = sample_dir()
    for name, rows in (("train.tsv", 2001), ("dev.tsv", 501), ("test.tsv", 8001), ("corpus.txt", 7891)):
        lines = (d / name).read_text(encoding="utf-8").splitlines()
        assert len(lines) == rows, name
    assert lines[0] and "\t" not in lines[0]  # the corpus is text only
    dev_test = {ln.split("\t", 1)[1] for f in ("dev.tsv", "test.tsv") for ln in (d / f).read_text(encoding="utf-8").splitlines()[1:]}
    assert not dev_test & set(lines)  # no evaluation text in the pre-training corpus
