"""mrc: the official CMRC 2018 metric on hand-made cases, the windows over long contexts with an
oracle's planted logits, one-line errors with JSON paths, and finetune/predict end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from task_helpers import run_cli
from uer_testing import data_file

from uer_ray.errors import InputError
from uer_ray.tasks import get_task
from uer_ray.tasks.mrc import SpanHead, cmrc_em, cmrc_f1, mixed_segmentation, split_words
from uer_ray.tokenizers import build_tokenizer

ZH_VOCAB = "vocab/google_zh_vocab.txt"


@pytest.fixture(scope="module")
def wordpiece():
    return build_tokenizer("wordpiece", vocab=data_file(ZH_VOCAB))


# -- the metric ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("answers", "prediction", "f1", "em"), [
    (["北京大学"], "北京大学", 1.0, 1.0),                         # exact
    (["北京大学"], "北京", 2 / 3, 0.0),                            # P 1, R 1/2
    (["上海", "北京大学"], "北京大学图书馆", 8 / 11, 0.0),         # best gold: P 4/7, R 1
    (["上海", "北京大学"], "上海", 1.0, 1.0),                      # any gold counts
    (["《战国无双3》"], "战国无双3", 1.0, 1.0),                   # punctuation removed
    (["光荣和ω-force"], "光荣和ω－force！", 1.0, 1.0),              # half- and full-width marks
    (["甲乙丙丁"], "甲丙丁", 4 / 7, 0.0),                          # common substring, not subsequence
    (["1963年"], "1963", 2 / 3, 0.0),                              # digits are one word
    (["USS Port Royal"], "Port Royal号", 2 / 3, 0.0),              # English words, not letters
    (["USS Port Royal"], "uss port royal", 1.0, 1.0),              # lower-cased
    (["北京"], "", 0.0, 0.0),
    (["北京"], "  北京 ", 1.0, 1.0),                                # stripped
])
def test_metric_matches_the_official_evaluation(answers, prediction, f1, em):
    assert cmrc_f1(answers, prediction) == pytest.approx(f1)
    assert cmrc_em(answers, prediction) == em


def test_mixed_segmentation_splits_chinese_by_character_and_keeps_words():
    assert mixed_segmentation("罗亚尔港号（USS Port Royal CG-73）") == [
        "罗", "亚", "尔", "港", "号", "（", "uss", "port", "royal", "cg", "-", "73", "）"]
    assert mixed_segmentation("罗亚尔港号（USS Port Royal CG-73）", remove_punctuation=True) == [
        "罗", "亚", "尔", "港", "号", "uss", "port", "royal", "cg73"]
    # nltk's word_tokenize splits: inner periods and digit commas stay, a final period goes
    assert split_words("cathedral church of st. paul") == ["cathedral", "church", "of", "st.", "paul"]
    assert split_words("1,000 km.") == ["1,000", "km", "."]
    assert split_words('"q" (1870–71), 4%') == ["``", "q", "''", "(", "1870", "–", "71", ")", ",", "4", "%"]
    assert split_words("don't") == ["do", "n't"]


# -- windows and the oracle -----------------------------------------------------------------------
def _squad(path, paragraphs):
    doc = {"version": "test", "data": [{"title": "t", "paragraphs": paragraphs}]}
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return str(path)


def _long_context_file(tmp_path):
    """A context of ~300 characters with answers at the start, across window boundaries, in
    English with capitals and spaces, and at the very end."""
    filler = "这是一段很长的文字用来测试窗口的划分方法以及答案的位置"
    parts = ["范廷颂", filler * 2, "罗亚尔港号（USS Port Royal）", filler * 3, "河内总教区", filler * 2,
             "结束于二零零九年"]
    context = "".join(parts)
    qas = []
    for n, answer in enumerate(["范廷颂", "USS Port Royal", "河内总教区", "二零零九年", "文字用来测试"]):
        qas.append({"id": f"q{n}", "question": f"问题{n}是什么？",
                    "answers": [{"text": answer, "answer_start": context.index(answer)}]})
    return _squad(tmp_path / "long.json", [{"context": context, "qas": qas}]), context


def _oracle(examples):
    """Logits an oracle would give: high at the gold start and end of every window that holds
    the whole answer, flat elsewhere."""
    preds = []
    for e in examples:
        n = len(e["starts"])
        start, end = [0.0] * n, [0.0] * n
        s, t = e["label"]
        if s:
            start[s - e["first"]], end[t - e["first"]] = 9.0, 8.0
        preds.append((start, end))
    return preds


def test_an_oracle_recovers_every_answer_across_stride_windows(tmp_path, wordpiece):
    path, context = _long_context_file(tmp_path)
    task = get_task("mrc")
    task.configure({"doc_stride": 16, "max_answer_length": 30})
    rows = task.read(path)
    task.build_labels(rows, path)
    examples = task.encode(rows, path, wordpiece, None, 48)
    per_question = {}
    for e in examples:
        per_question.setdefault(e["qid"], []).append(e)
        assert len(e["input_ids"]) <= 48 and e["segment_ids"][e["first"] - 1] == 1
        assert e["segment_ids"][e["first"]] == 2 and e["input_ids"][-1] == wordpiece.sep_id
    assert all(len(w) >= 8 for w in per_question.values())  # the context spans many windows
    # each answer lies wholly inside at least one window, and some windows hold only part of it
    assert all(any(e["label"] != (0, 0) for e in w) for w in per_question.values())
    preds = _oracle(examples)
    answers = task.answers(examples, preds)
    assert [a["answer"] for a in answers.values()] == [
        "范廷颂", "USS Port Royal", "河内总教区", "二零零九年", "文字用来测试"]
    m = task.metrics(examples, preds, None)
    assert m == {"f1": 1.0, "em": 1.0, "count": 5}
    u = task.units(examples, preds, None)
    assert u.shape == (5, 2) and task.metric_from_units(u[None])[0] == 1.0
    # a start token is read only in the window where it has the most context: with n_best 1, a
    # span planted at the edge of windows without the answer, where that token has less context
    # than in its neighbour, is not read
    task.configure({"n_best": 1})
    stray = [(list(s), list(t)) for s, t in preds]
    for e, (s, t) in zip(examples, stray, strict=True):
        edge = len(s) - 1
        if e["qid"] == "q0" and e["label"] == (0, 0) and not e["max_context"][edge]:
            s[edge], t[edge] = 50.0, 50.0
    assert task.answers(examples, stray)["q0"]["answer"] == "范廷颂"
    # max_answer_length (tokens) bounds the spans: an oracle answer of 14 characters is lost at 3
    task.configure({"n_best": 20, "max_answer_length": 3})
    assert task.answers(examples, preds)["q4"]["answer"] != "文字用来测试"


def test_span_head_is_the_qa_outputs_layout():
    import torch

    head = SpanHead(8)
    assert [n for n, _ in head.named_parameters()] == ["output.weight", "output.bias"]
    assert head.output.weight.shape == (2, 8)
    hidden = torch.randn(2, 5, 8)
    out = head(hidden, torch.ones(2, 5, dtype=torch.bool))
    assert torch.allclose(out[..., 0], hidden @ head.output.weight[0] + head.output.bias[0], atol=1e-6)


# -- errors ---------------------------------------------------------------------------------------
def test_bad_files_are_one_line_with_the_json_path(tmp_path):
    task = get_task("mrc")
    ctx = "范廷颂是越南罗马天主教枢机。"
    no_answer = _squad(tmp_path / "a.json", [{"context": ctx, "qas": [
        {"id": "x", "question": "谁？", "answers": [{"text": "范廷颂", "answer_start": 0}]},
        {"id": "y", "question": "哪？", "answers": []}]}])
    with pytest.raises(InputError, match=r"a\.json:data\[0\]\.paragraphs\[0\]\.qas\[1\]: the question has no answers"):
        task.read(no_answer)
    assert len(task.read(no_answer, labelled=False)) == 2  # predict needs no answers
    missing = _squad(tmp_path / "b.json", [{"context": ctx, "qas": [
        {"id": "x", "question": "谁？", "answers": [{"text": "阮文顺", "answer_start": 0}]}]}])
    rows = task.read(missing)  # dev and test need only the texts
    with pytest.raises(InputError, match=r"b\.json:data\[0\]\.paragraphs\[0\]\.qas\[0\]\.answers\[0\]: "
                       "answer '阮文顺' is not in the context"):
        task.build_labels(rows, missing)
    # an answer_start a few characters off is found nearby, as the published files need
    near = _squad(tmp_path / "c.json", [{"context": ctx, "qas": [
        {"id": "x", "question": "谁？", "answers": [{"text": "越南", "answer_start": 2}]}]}])
    rows = task.read(near)
    task.build_labels(rows, near)
    assert rows[0].cells["label"] == [("越南", 4)]
    bad_json = tmp_path / "d.json"
    bad_json.write_text('{"data": [\n{"paragraphs": }]}', encoding="utf-8")
    with pytest.raises(InputError, match=r"d\.json:2: not valid JSON"):
        task.read(str(bad_json))
    fake = _squad(tmp_path / "e.json", [{"context": ctx, "qas": [
        {"id": "x", "question": "谁？", "answers": [{"text": "FAKE_ANSWER_1", "answer_start": -1}]}]}])
    with pytest.raises(InputError, match="placeholder"):
        task.read(fake)
    wrong_type = _squad(tmp_path / "f.json", [{"context": ctx, "qas": [{"id": "x", "question": 3}]}])
    with pytest.raises(InputError, match=r"qas\[0\]\.question: question must be a string"):
        task.read(wrong_type)


def test_mrc_options_belong_to_mrc(tmp_path, capsys):
    d = data_file("datasets/test_data/book_review/train.tsv")
    code = run_cli("finetune", "--task", "classify", "--train", d, "--dev", d, "--out", tmp_path / "o",
                   "--model", "bert-tiny", "--doc-stride", "64")
    assert code == 2 and "--doc-stride applies to task mrc, not classify" in capsys.readouterr().err
    code = run_cli("finetune", "--task", "mrc", "--train", d, "--dev", d, "--out", tmp_path / "o",
                   "--model", "bert-tiny", "--n-best", "0")
    assert code == 2 and "--n-best must be >= 1" in capsys.readouterr().err


# -- end to end -----------------------------------------------------------------------------------
def test_finetune_and_predict_cmrc(tiny_configs, tmp_path):
    cmrc = "datasets/test_data/cmrc"
    out = tmp_path / "ft"
    assert run_cli("finetune", "--task", "mrc", "--train", data_file(f"{cmrc}/train.json"),
                   "--dev", data_file(f"{cmrc}/dev.json"), "--test", data_file(f"{cmrc}/dev.json"),
                   "--out", out, "--model", tiny_configs["transformer"], "--vocab", data_file(ZH_VOCAB),
                   "--epochs", "1", "--batch-size", "16", "--seq-length", "96", "--doc-stride", "48",
                   "--device", "cpu", "--quiet") == 0
    record = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["results"]
    assert record["test"]["count"] == 3 and 0 <= record["test"]["f1"] <= 1
    assert record["test"] == record["dev"]  # the same file, the best weights
    settings = json.loads((out / "task.json").read_text(encoding="utf-8"))
    assert settings["options"]["doc_stride"] == 48 and settings["labels"] is None
    pred = tmp_path / "pred.json"
    test = data_file(f"{cmrc}/test.json")
    assert run_cli("predict", "--model", out, "--input", test, "--out", pred, "--device", "cpu",
                   "--quiet") == 0
    answers = json.loads(pred.read_text(encoding="utf-8"))
    ids = [q["id"] for d in json.loads(test.read_text(encoding="utf-8"))["data"]
           for p in d["paragraphs"] for q in p["qas"]]
    assert list(answers) == ids
    contexts = [p["context"] for d in json.loads(test.read_text(encoding="utf-8"))["data"]
                for p in d["paragraphs"]]
    assert all(isinstance(a, str) and a in contexts[0] for a in answers.values())

    # the report's units give the recorded test metric
    from uer_ray.report.evaluate import test_units

    task_name, units = test_units(out, str(data_file(f"{cmrc}/dev.json")), tmp_path / "cache")
    assert task_name == "mrc" and units.shape == (3, 2)
    assert float(np.mean(units[:, 0])) == pytest.approx(record["test"]["f1"])
