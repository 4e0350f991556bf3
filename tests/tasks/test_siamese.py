"""``siamese``: two towers (shared or separate) over text_a and text_b, the classify, cosine and
SimCSE objectives, the report's units, predict, the book-review pairs, bad input."""

from __future__ import annotations

import importlib.util
import json
import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from task_helpers import run_cli, tiny_finetune_error, write_tsv
from uer_testing import REPO, data_file

from uer_ray.errors import OptionsError
from uer_ray.tasks import get_task
from uer_ray.tasks.metrics import regression_metrics
from uer_ray.tasks.siamese import split_pair

CUES = "甲乙丙丁戊"
FILLER = "书的这本写得内容故事人物作者读完觉得有点非常一般"


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory):
    """Learnable pairs: each text holds one cue character among filler; label 1 when both
    texts hold the same cue (half the pairs). Also a one-column sentence file for SimCSE."""
    d = tmp_path_factory.mktemp("siamese")
    rng = random.Random(5)

    def text(cue):
        chars = [rng.choice(FILLER) for _ in range(rng.randint(3, 8))]
        chars.insert(rng.randint(0, len(chars)), cue)
        return "".join(chars)

    files = {}
    for split, n in (("train", 240), ("dev", 60)):
        rows = []
        for i in range(n):
            a = rng.choice(CUES)
            b = a if i % 2 == 0 else rng.choice([c for c in CUES if c != a])
            rows.append([int(a == b), text(a), text(b)])
        files[split] = write_tsv(d / f"{split}.tsv", ["label", "text_a", "text_b"], rows)
    files["sentences"] = write_tsv(d / "sentences.tsv", ["text_a"],
                                   [[text(rng.choice(CUES))] for _ in range(120)])
    return files


def _finetune(tmp_path, name, train, dev, model, vocab, *extra):
    out = tmp_path / name
    assert run_cli("finetune", "--task", "siamese", "--train", train, "--dev", dev, "--test", dev,
                   "--out", out, "--model", model, "--vocab", vocab, "--tokenizer", "char",
                   "--quiet", *extra) == 0
    return out, json.loads((out / "metrics.json").read_text(encoding="utf-8"))["results"]


def _rows(path):
    lines = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    return lines[0].split("\t"), [ln.split("\t") for ln in lines[1:]]


def test_split_pair():
    ids = torch.tensor([[2, 5, 3, 2, 6, 7, 3, 0], [2, 3, 2, 8, 8, 8, 9, 3]])
    segs = torch.tensor([[1, 1, 1, 2, 2, 2, 2, 0], [1, 1, 2, 2, 2, 2, 2, 2]])
    a_ids, a_segs, b_ids, b_segs = split_pair(ids, segs)
    assert a_ids.tolist() == [[2, 5, 3, 0, 0, 0], [2, 3, 0, 0, 0, 0]]
    assert a_segs.tolist() == [[1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0]]
    assert b_ids.tolist() == [[2, 6, 7, 3, 0, 0], [2, 8, 8, 8, 9, 3]]
    assert b_segs.tolist() == [[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]]
    single = split_pair(ids[:, :3], torch.ones(2, 3, dtype=torch.long))
    assert single[2] is None and single[0].tolist() == [[2, 5, 3], [2, 3, 2]]


def test_configure_and_units():
    task = get_task("siamese")
    task.configure({})
    assert (task.objective, task.select_metric, task.exact_test) == ("classify", "accuracy", True)
    # the report configures a scorer from the metric alone
    task.configure({"metric": "spearman"})
    assert (task.objective, task.select_metric, task.exact_test) == ("cosine", "spearman", False)
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 5, 40).astype(float).tolist()  # ties, as STS scores have
    pred = (np.array(gold) + rng.normal(0, 2, 40)).tolist()
    examples = [{"label": g} for g in gold]
    units = task.units(examples, pred, None)
    m = regression_metrics(gold, pred)
    assert task.metric_from_units(units[None])[0] == pytest.approx(m["spearman"])
    task.configure({"metric": "pearson"})
    assert task.metric_from_units(units[None])[0] == pytest.approx(m["pearson"])
    with pytest.raises(OptionsError, match="cosine objective is scored by spearman or pearson"):
        task.configure({"siamese_objective": "cosine", "metric": "accuracy"})
    with pytest.raises(OptionsError, match="use --tower shared"):
        task.configure({"siamese_objective": "simcse", "tower": "separate"})


def test_classify_shared_and_separate_towers(pair_files, tiny_configs, char_vocab, tmp_path):
    f = pair_files
    out, r = _finetune(tmp_path, "cls", f["train"], f["dev"], tiny_configs["lstm"], char_vocab,
                       "--epochs", "6", "--lr", "0.01", "--batch-size", "16")
    assert r["select_metric"] == "accuracy" and r["pooling"] == "mean"
    assert r["dev"]["accuracy"] >= 0.85, r["history"]
    settings = json.loads((out / "task.json").read_text(encoding="utf-8"))
    assert settings["options"] == {"tower": "shared", "siamese_objective": "classify", "temperature": 0.05}
    head = load_file(str(out / "head.safetensors"))
    assert set(head) == {"classifier.weight", "classifier.bias"}
    assert head["classifier.weight"].shape == (2, 3 * 32)  # [u, v, |u-v|]

    pred = tmp_path / "pred.tsv"
    assert run_cli("predict", "--model", out, "--input", f["dev"], "--out", pred, "--probs", "--quiet") == 0
    header, rows = _rows(pred)
    _, gold = _rows(f["dev"])
    assert header == ["label", "prob_0", "prob_1"] and len(rows) == len(gold)
    right = sum(p[0] == g[0] for p, g in zip(rows, gold, strict=True)) / len(gold)
    assert right == pytest.approx(r["test"]["accuracy"])

    out, r = _finetune(tmp_path, "sep", f["train"], f["dev"], tiny_configs["transformer"],
                       char_vocab, "--epochs", "1", "--tower", "separate", "--pooling", "first")
    head = load_file(str(out / "head.safetensors"))
    assert any(k.startswith("tower_b.encoder.") for k in head)
    model = load_file(str(out / "model.safetensors"))
    key = next(k for k in model if k.startswith("encoder.") and k.endswith("weight"))
    assert not torch.equal(model[key], head[f"tower_b.{key}"])  # trained apart from tower a
    pred = tmp_path / "sep.tsv"
    assert run_cli("predict", "--model", out, "--input", f["dev"], "--out", pred, "--quiet") == 0
    _, rows = _rows(pred)
    right = sum(p[0] == g[0] for p, g in zip(rows, gold, strict=True)) / len(gold)
    assert right == pytest.approx(r["test"]["accuracy"])  # the reloaded towers score as trained


def test_cosine_and_simcse(pair_files, tiny_configs, char_vocab, tmp_path):
    f = pair_files
    out, r = _finetune(tmp_path, "cos", f["train"], f["dev"], tiny_configs["lstm"], char_vocab,
                       "--epochs", "4", "--lr", "0.01", "--batch-size", "16",
                       "--siamese-objective", "cosine")
    assert r["select_metric"] == "spearman" and r["dev"]["spearman"] >= 0.6, r["history"]
    pred = tmp_path / "cos.tsv"
    assert run_cli("predict", "--model", out, "--input", f["dev"], "--out", pred, "--quiet") == 0
    header, rows = _rows(pred)
    _, gold = _rows(f["dev"])
    assert header == ["score"] and all(-1 <= float(x[0]) <= 1 for x in rows)
    m = regression_metrics([float(g[0]) for g in gold], [float(x[0]) for x in rows])
    assert m["spearman"] == pytest.approx(r["test"]["spearman"], abs=1e-4)

    # SimCSE: sentences alone in training (a dropout model, so the two views differ)
    cfg = tmp_path / "dropout.json"
    cfg.write_text(json.dumps({**json.loads(tiny_configs["transformer"].read_text()), "dropout": 0.1}))
    out, r = _finetune(tmp_path, "simcse", f["sentences"], f["dev"], cfg, char_vocab,
                       "--epochs", "2", "--batch-size", "32", "--siamese-objective", "simcse",
                       "--temperature", "0.1")
    assert r["select_metric"] == "spearman" and r["examples"]["train"] == 120
    assert np.isfinite(r["history"][-1]["train/loss"]) and -1 <= r["dev"]["spearman"] <= 1
    settings = json.loads((out / "task.json").read_text(encoding="utf-8"))
    assert settings["options"]["siamese_objective"] == "simcse" and settings["options"]["temperature"] == 0.1


def test_simcse_loss_is_infonce():
    task = get_task("siamese")
    task.configure({"siamese_objective": "simcse", "temperature": 0.5})
    u = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    v = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    loss = task.loss(None, torch.stack([u, v], 1), {})
    c = 1 / np.sqrt(2)  # cosines: [[1, c], [0, c]] / 0.5
    expected = (-np.log(np.exp(2) / (np.exp(2) + np.exp(2 * c)))
                - np.log(np.exp(2 * c) / (np.exp(0) + np.exp(2 * c)))) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def _tower_data():
    spec = importlib.util.spec_from_file_location("tower_data", REPO / "bench" / "tower_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_document_pairs():
    module = _tower_data()
    docs = module.documents(data_file("corpora/CLUECorpusSmall_bert_sampled.txt"))
    assert len(docs) > 100 and all(len(d) >= 2 for d in docs)
    home = {s: i for i, d in enumerate(docs) for s in d}
    pairs = module.document_pairs(docs, 40, seed=0)
    assert [p[0] for p in pairs] == ["1", "0"] * 20
    for label, a, b in pairs:
        assert a != b and (home[a] == home[b]) == (label == "1")


def test_book_review_pairs():
    module = _tower_data()
    source = data_file("datasets/test_data/book_review/train.tsv")
    sentiment = {}
    for line in source.read_text(encoding="utf-8").split("\n")[1:]:
        if line:
            label, text = line.split("\t")
            sentiment[text] = label
    pairs = module.sentiment_pairs(source, 60, seed=0)
    assert [p[0] for p in pairs] == ["1", "0"] * 30
    for label, a, b in pairs:
        assert (sentiment[a] == sentiment[b]) == (label == "1")
    used = [t for _, a, b in pairs for t in (a, b)]
    assert len(set(used)) == len(used)  # no review twice


def _error(capsys, tmp_path, train, dev, tiny_configs, char_vocab, *extra):
    return tiny_finetune_error(capsys, tmp_path / "out", "siamese", train, dev, tiny_configs, char_vocab, *extra)


def test_bad_input_is_one_line(capsys, pair_files, tiny_configs, char_vocab, tmp_path):
    f = pair_files
    dev = write_tsv(tmp_path / "dev.tsv", ["label", "text_a", "text_b"], [[1, "甲", "甲"], [2, "乙", "丙"]])
    err = _error(capsys, tmp_path, f["train"], dev, tiny_configs, char_vocab)
    assert "dev.tsv:3: label '2' does not occur in the training file (known labels: 0, 1)" in err
    scores = write_tsv(tmp_path / "scores.tsv", ["label", "text_a", "text_b"], [[0.5, "甲", "甲"], ["high", "乙", "丙"]])
    err = _error(capsys, tmp_path, f["train"], scores, tiny_configs, char_vocab,
                 "--siamese-objective", "cosine")
    assert "scores.tsv:3: a cosine label is a similarity score (a finite number), found 'high'" in err
    err = _error(capsys, tmp_path, f["sentences"], f["sentences"], tiny_configs, char_vocab,
                 "--siamese-objective", "simcse")
    assert "sentences.tsv:2: siamese simcse is evaluated on labelled pairs" in err
    err = _error(capsys, tmp_path, f["sentences"], f["dev"], tiny_configs, char_vocab)
    assert "sentences.tsv:1: missing columns 'label', 'text_b'" in err
    err = _error(capsys, tmp_path, f["train"], f["dev"], tiny_configs, char_vocab, "--tower", "twin")
    assert "invalid choice: 'twin'" in err
    err = _error(capsys, tmp_path, f["train"], f["dev"], tiny_configs, char_vocab, "--temperature", "0.1")
    assert "--temperature (0.1) is the positive InfoNCE temperature" in err
    err = _error(capsys, tmp_path, f["train"], f["dev"], tiny_configs, char_vocab,
                 "--siamese-objective", "cosine", "--freeze")
    assert "--freeze trains only the head" in err
