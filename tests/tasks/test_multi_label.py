"""``multi_label``: label sets, the threshold tuned on dev (or given), micro/macro F1 and the
per-label report, its report units, predict's label sets, the MSRA-derived set, bad input."""

from __future__ import annotations

import importlib.util
import json
import random

import numpy as np
import pytest
from task_helpers import run_cli, tiny_finetune_error, write_tsv
from uer_testing import REPO, data_file

from uer_ray.errors import InputError
from uer_ray.tasks import LabelMap, get_task
from uer_ray.tasks.multi_label import multilabel_metrics, split_labels, tune_threshold

CUES = {"A": "甲", "B": "乙", "C": "丙"}
FILLER = "书的这本写得内容故事人物作者读完觉得有点非常一般"


def _tower_data():
    spec = importlib.util.spec_from_file_location("tower_data", REPO / "bench" / "tower_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cue_files(tmp_path_factory):
    """Learnable: an example has label X exactly when its text holds X's cue character; each
    label is on with probability 0.4, so some examples have none (an empty label cell)."""
    d = tmp_path_factory.mktemp("multi_label")
    rng = random.Random(3)
    files = {}
    for split, n in (("train", 240), ("dev", 60)):
        rows = []
        for _ in range(n):
            on = [k for k in CUES if rng.random() < 0.4]
            chars = [rng.choice(FILLER) for _ in range(rng.randint(4, 10))]
            for k in on:
                chars.insert(rng.randint(0, len(chars)), CUES[k])
            rows.append([",".join(on), "".join(chars)])
        files[split] = write_tsv(d / f"{split}.tsv", ["label", "text_a"], rows)
    return files


def test_split_labels(tmp_path):
    assert split_labels("", "f", 2) == [] and split_labels("  ", "f", 2) == []
    assert split_labels("PER, LOC,PER", "f", 2) == ["PER", "LOC"]
    with pytest.raises(InputError, match=r"f:7: label 'PER,,LOC' has an empty name"):
        split_labels("PER,,LOC", "f", 7)


def test_threshold_and_metrics_by_hand():
    probs = np.array([[0.9, 0.2], [0.6, 0.7], [0.3, 0.1]])
    gold = np.array([[1, 0], [0, 1], [0, 0]])
    # cutting below 0.7 and 0.9 but above 0.6 predicts exactly the two gold labels: F1 1.0
    t = tune_threshold(probs, gold)
    assert t == pytest.approx(0.65)
    m = multilabel_metrics(gold, probs >= 0.5, ["x", "y"])
    # at 0.5: predicted (0,x) (1,x) (1,y); gold (0,x) (1,y): tp 2, fp 1, fn 0
    assert m["micro_precision"] == pytest.approx(2 / 3) and m["micro_recall"] == 1.0
    assert m["micro_f1"] == pytest.approx(0.8)
    assert m["per_label"]["x"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1}
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1.0) / 2)
    assert m["subset_accuracy"] == pytest.approx(2 / 3)
    assert tune_threshold(probs, np.zeros_like(gold)) == 0.5  # nothing to find: the default


def test_units_give_micro_and_macro_f1():
    task = get_task("multi_label")
    task.configure({"threshold": 0.5})
    labels = LabelMap(["a", "b", "c"])
    rng = np.random.default_rng(0)
    probs = rng.random((30, 3)).tolist()
    examples = [{"label": tuple(int(x) for x in rng.random(3) < 0.4)} for _ in range(30)]
    m = task.metrics(examples, probs, labels)
    assert m["threshold"] == 0.5 and m["threshold_tuned"] is False
    units = task.units(examples, probs, labels)
    assert units.shape == (30, 9)
    assert task.metric_from_units(units[None])[0] == pytest.approx(m["micro_f1"])
    task.configure({"metric": "macro_f1"})
    assert task.metric_from_units(units[None])[0] == pytest.approx(m["macro_f1"])


def test_learns_tunes_threshold_and_predicts(cue_files, tiny_configs, char_vocab, tmp_path):
    out = tmp_path / "ml"
    assert run_cli("finetune", "--task", "multi_label", "--train", cue_files["train"], "--dev",
                   cue_files["dev"], "--test", cue_files["dev"], "--out", out, "--model",
                   tiny_configs["lstm"], "--vocab", char_vocab, "--tokenizer", "char", "--epochs",
                   "6", "--lr", "0.01", "--batch-size", "16", "--quiet") == 0
    r = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["results"]
    assert r["select_metric"] == "micro_f1" and r["labels"] == ["A", "B", "C"]
    assert r["dev"]["micro_f1"] >= 0.9, r["history"]
    assert set(r["dev"]["per_label"]) == {"A", "B", "C"} and "macro_f1" in r["test"]
    settings = json.loads((out / "task.json").read_text(encoding="utf-8"))
    threshold = settings["options"]["threshold"]
    assert 0 < threshold < 1 and r["dev"]["threshold"] == threshold
    assert r["test"]["threshold"] == threshold and r["test"]["threshold_tuned"] is False

    pred = tmp_path / "pred.tsv"
    assert run_cli("predict", "--model", out, "--input", cue_files["dev"], "--out", pred,
                   "--probs", "--quiet") == 0
    lines = pred.read_text(encoding="utf-8").rstrip("\n").split("\n")
    assert lines[0].split("\t") == ["label", "prob_A", "prob_B", "prob_C"]
    gold = [ln.split("\t")[0] for ln in cue_files["dev"].read_text(encoding="utf-8").split("\n")[1:-1]]
    rows = [ln.split("\t") for ln in lines[1:]]
    assert len(rows) == len(gold)
    for row in rows:  # the label set is exactly the labels whose probability reaches the threshold
        chosen = {name for name, p in zip("ABC", row[1:], strict=True) if float(p) >= threshold}
        assert set(filter(None, row[0].split(","))) == chosen
    exact = sum(set(filter(None, p[0].split(","))) == set(filter(None, g.split(",")))
                for p, g in zip(rows, gold, strict=True)) / len(gold)
    assert exact == pytest.approx(r["test"]["subset_accuracy"])

    # a given threshold is used as it is, and recorded
    out2 = tmp_path / "ml2"
    assert run_cli("finetune", "--task", "multi_label", "--train", cue_files["train"], "--dev",
                   cue_files["dev"], "--out", out2, "--model", tiny_configs["lstm"], "--vocab",
                   char_vocab, "--tokenizer", "char", "--epochs", "1", "--threshold", "0.3",
                   "--quiet") == 0
    assert json.loads((out2 / "task.json").read_text(encoding="utf-8"))["options"]["threshold"] == 0.3
    dev = json.loads((out2 / "metrics.json").read_text(encoding="utf-8"))["results"]["dev"]
    assert dev["threshold"] == 0.3 and dev["threshold_tuned"] is False


def test_msra_derived_set(tmp_path, tiny_configs, char_vocab):
    """The derivation of bench/tower_data.py on the bundled MSRA cut: the labels are the entity
    types of the tags, the text is the sentence; it fine-tunes."""
    derive = _tower_data().msra_multilabel
    rows = derive(data_file("datasets/test_data/msra_ner/train.tsv"))
    assert len(rows) == 200
    source = data_file("datasets/test_data/msra_ner/train.tsv").read_text(encoding="utf-8").split("\n")[1:201]
    for (labels, text), line in zip(rows, source, strict=True):
        chars, tags = line.split("\t")
        assert text == chars.replace(" ", "")
        assert (labels.split(",") if labels else []) == sorted({t[2:] for t in tags.split() if t != "O"})
    assert {"LOC", "ORG", "PER"} <= {x for lab, _ in rows for x in lab.split(",") if x}
    train = write_tsv(tmp_path / "train.tsv", ["label", "text_a"], rows)
    dev = write_tsv(tmp_path / "dev.tsv", ["label", "text_a"],
                    derive(data_file("datasets/test_data/msra_ner/dev.tsv")))
    assert run_cli("finetune", "--task", "multi_label", "--train", train, "--dev", dev, "--out",
                   tmp_path / "out", "--model", tiny_configs["transformer"], "--vocab", char_vocab,
                   "--tokenizer", "char", "--epochs", "1", "--seq-length", "64", "--quiet") == 0
    r = json.loads((tmp_path / "out" / "metrics.json").read_text(encoding="utf-8"))["results"]
    assert r["labels"] == ["LOC", "ORG", "PER"] and r["dev"]["count"] == 50


def _error(capsys, tmp_path, train, dev, tiny_configs, char_vocab, *extra, task="multi_label"):
    return tiny_finetune_error(capsys, tmp_path / "out", task, train, dev, tiny_configs, char_vocab, *extra)


def test_bad_input_is_one_line(capsys, tmp_path, tiny_configs, char_vocab):
    train = write_tsv(tmp_path / "train.tsv", ["label", "text_a"], [["A,B", "甲乙"], ["", "书"], ["B", "乙"]])
    dev = write_tsv(tmp_path / "dev.tsv", ["label", "text_a"], [["A", "甲"], ["B,D", "乙"]])
    err = _error(capsys, tmp_path, train, dev, tiny_configs, char_vocab)
    assert "dev.tsv:3: label 'D' does not occur in the training file (known labels: A, B)" in err
    bad = write_tsv(tmp_path / "bad.tsv", ["label", "text_a"], [["A", "甲"], ["A,", "乙"]])
    err = _error(capsys, tmp_path, bad, dev, tiny_configs, char_vocab)
    assert "bad.tsv:3: label 'A,' has an empty name between commas" in err
    none = write_tsv(tmp_path / "none.tsv", ["label", "text_a"], [["", "甲"], ["", "乙"]])
    err = _error(capsys, tmp_path, none, dev, tiny_configs, char_vocab)
    assert "none.tsv: no labels: every label cell of the training file is empty" in err
    err = _error(capsys, tmp_path, train, dev, tiny_configs, char_vocab, "--threshold", "1.5")
    assert "--threshold is a probability in (0, 1)" in err
    err = _error(capsys, tmp_path, train, dev, tiny_configs, char_vocab, "--threshold", "0.5",
                 task="classify")
    assert "--threshold applies to task multi_label, not classify" in err
