"""``run.py report`` on bad input: a folder that holds no run, a pre-training run whose
metrics.jsonl lost half its last line, an empty zoo — each a clear message or a partial report
that says what is missing; and the statistics behind "larger than the noise"."""

from __future__ import annotations

import json

import numpy as np
import pytest

from uer_ray.cli import main


def test_a_folder_with_no_run_is_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds no run" in err, err
    assert main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    assert "no such folder" in capsys.readouterr().err


def _pretrain_folder(folder, steps=5):
    """A pre-training output folder as a run leaves it while it runs (run.json, the log)."""
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"name": "pretrain", "options": {}}))
    lines = [{"step": 10 * i, "epoch": 0, "loss": 8 - i * 0.5, "mlm/loss": 8 - i * 0.5,
              "mlm/accuracy": 0.05 * i, "tokens_per_s": 1000 + 10 * i} for i in range(1, steps + 1)]
    text = "".join(json.dumps(x) + "\n" for x in lines)
    return text


def test_a_torn_metrics_line_is_left_out_and_said(tmp_path, capsys):
    run = tmp_path / "run"
    text = _pretrain_folder(run)
    (run / "metrics.jsonl").write_text(text[: len(text) - 25])  # a crash while writing
    assert main(["report", str(run), "--out", str(tmp_path / "r")]) == 0
    printed = capsys.readouterr().out
    assert "the last line was cut" in printed and "no result record yet" in printed
    md = (tmp_path / "r" / "report.md").read_text()
    assert "| 40 |" in md  # step 40 is the last whole line
    assert (tmp_path / "r" / "pretraining.png").stat().st_size > 10_000


def test_an_empty_zoo_says_so(tmp_path, capsys):
    assert main(["report", "--zoo", str(tmp_path / "zoo"), "--out", str(tmp_path / "r")]) == 0
    assert "the zoo is empty" in capsys.readouterr().out


def test_a_misspelt_zoo_filter_names_what_the_zoo_has(tmp_path, capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "zoo"))
    from zoo_helpers import finetuned, pretrained

    from uer_ray import zoo

    store = str(tmp_path / "zoo")
    pt = pretrained(tmp_path)
    zoo.publish(finetuned(tmp_path, pt / "final"), zoo=store)
    assert main(["report", "--zoo", store, "--dataset", "book_reveiw", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "no zoo entry matches dataset 'book_reveiw'" in out and "did you mean 'book_review'?" in out, out


def test_paired_bootstrap_and_mcnemar():
    from uer_ray.report.stats import compare, mcnemar

    rng = np.random.default_rng(0)
    truth = rng.random(2000) < 0.8
    better = truth.astype(float)[:, None]
    worse = (truth & (rng.random(2000) < 0.9)).astype(float)[:, None]  # 10 points lower
    c = compare("classify", "a", better, "b", worse, "accuracy")
    assert c.resolved and 0.05 < c.low < c.difference < c.high < 0.12
    same = compare("classify", "a", better, "a2", better.copy(), "accuracy")
    assert not same.resolved and same.difference == 0
    assert mcnemar(better[:, 0], worse[:, 0]) < 1e-6 and mcnemar(better[:, 0], better[:, 0]) == 1.0
    # a whole 10,000-row test file: thousands of discordant examples (2**n is no float)
    a = rng.random(10_000) < 0.5
    flipped = a ^ (rng.random(10_000) < 0.3)
    assert 0 <= mcnemar(a.astype(float), flipped.astype(float)) <= 1
    assert mcnemar(np.r_[np.ones(1600), np.zeros(1500)], np.r_[np.zeros(1600), np.ones(1500)]) \
        == pytest.approx(0.0752, abs=2e-3)  # normal approximation: z = 100/sqrt(3100) = 1.80
    # entity F1 from per-sentence counts: the same numbers as summing first
    units = np.array([[1, 2, 2], [0, 1, 1], [2, 2, 3]], dtype=float)
    f1 = compare("tag", "x", units, "y", units, "f1").a_value
    assert f1 == pytest.approx(2 * (3 / 5) * (3 / 6) / (3 / 5 + 3 / 6))
