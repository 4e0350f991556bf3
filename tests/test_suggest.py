"""The one "did you mean" helper behind every unknown name, key or choice."""

from __future__ import annotations

from pathlib import Path

from uer_ray.suggest import did_you_mean


def test_one_close_choice_or_nothing():
    assert did_you_mean("lstn", ["lstm", "gru", "transformer"]) == "; did you mean 'lstm'?"
    assert did_you_mean("xyz", ["lstm", "gru"]) == ""
    assert did_you_mean("lstm", []) == ""


def test_several_close_choices_best_first():
    choices = ["bert-tiny", "bert-mini", "bert-base", "gpt2"]
    assert did_you_mean("bert-tinny", choices, n=3, cutoff=0.5) == (
        "; did you mean 'bert-tiny' or 'bert-mini' or 'bert-base'?")
    assert did_you_mean("bert-tinny", choices) == "; did you mean 'bert-tiny'?"


def test_cutoff_brackets_and_how_a_choice_is_written():
    assert did_you_mean("lates", ["latest", "best"], brackets=True) == " (did you mean 'latest'?)"
    assert did_you_mean("mlm", ["mxlx"]) == ""  # similarity 0.57: under the default 0.6
    assert did_you_mean("mlm", ["mxlx"], cutoff=0.5) == "; did you mean 'mxlx'?"
    folder = Path("/spaces")
    hint = did_you_mean("book_reveiw.yaml", ["book_review.yaml", "sst2.yaml"], brackets=True,
                        show=lambda name: str(folder / name))
    assert hint == " (did you mean /spaces/book_review.yaml?)"


def test_any_values_and_repeated_choices():
    assert did_you_mean(12, [1, 2, 120]) == "; did you mean '120'?"  # compared as text
    assert did_you_mean("lstn", ["lstm", "lstm", "lstm"], n=3) == "; did you mean 'lstm'?"
    assert did_you_mean("epoch", {"epochs": 1, "lr": 2}) == "; did you mean 'epochs'?"  # a mapping's keys
