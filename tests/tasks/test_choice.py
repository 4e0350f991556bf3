"""choice: C3 files, the per-choice input layout, batches of questions with different numbers of
choices, one-line errors with JSON paths, and a learnable constructed set end to end."""

from __future__ import annotations

import json
import random

import pytest
import torch
from task_helpers import run_cli
from uer_testing import data_file

from uer_ray.errors import InputError
from uer_ray.tasks import get_task
from uer_ray.tasks.batching import collate, lengths_of
from uer_ray.tokenizers import build_tokenizer


@pytest.fixture(scope="module")
def wordpiece():
    return build_tokenizer("wordpiece", vocab=data_file("vocab/google_zh_vocab.txt"))


def _write(path, docs):
    path.write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_c3_rows_and_the_input_layout(wordpiece):
    task = get_task("choice")
    path = str(data_file("datasets/c3/dev.json"))
    rows = task.read(path)
    docs = json.loads(open(path, encoding="utf-8").read())
    assert len(rows) == sum(len(d[1]) for d in docs)
    first = rows[0]
    assert first.line == "[0][1][0]" and first.cells["choices"] == ["旅行", "坏境", "工作", "家庭"]
    assert first.cells["label"] == 2 and first.cells["context"] == "\n".join(docs[0][0])
    examples = task.encode(rows, path, wordpiece, None, 64)
    e = examples[0]
    assert len(e["input_ids"]) == 4 and e["label"] == 2
    choice, question = wordpiece.encode("工作"), wordpiece.encode("他们在谈论什么?")
    head = [wordpiece.cls_id, *choice, wordpiece.sep_id, *question, wordpiece.sep_id]
    ids, segs = e["input_ids"][2], e["segment_ids"][2]
    assert ids[: len(head)] == head and ids[-1] == wordpiece.sep_id
    assert segs == [1] * len(head) + [2] * (len(ids) - len(head))
    assert ids[len(head):-1] == wordpiece.encode(first.cells["context"])[: len(ids) - len(head) - 1]
    assert max(len(x) for ex in examples for x in ex["input_ids"]) <= 64  # the context is cut
    # the test file has no answers: predict reads it
    assert all("label" not in r.cells for r in task.read(str(data_file("datasets/c3/test.json")), labelled=False))


def test_batches_pad_choices_and_mask_them(wordpiece):
    task = get_task("choice")
    examples = [
        {"input_ids": [[2, 5, 3], [2, 6, 6, 3]], "segment_ids": [[1, 1, 2], [1, 1, 2, 2]], "label": 1},
        {"input_ids": [[2, 7, 3]] * 4, "segment_ids": [[1, 1, 2]] * 4, "label": 3},
    ]
    assert lengths_of(examples) == [4, 3]
    batch = collate(examples, pad_id=0)
    assert batch["input_ids"].shape == (2, 4, 4)
    assert batch["choice_mask"].tolist() == [[True, True, False, False], [True] * 4]
    assert batch["label"].tolist() == [1, 3]
    calls = []

    def net(ids, segs):  # scores the sum of the ids; sees only the real choices
        calls.append(ids.shape)
        return ids.sum(-1, keepdim=True).float()

    scores = task.forward(net, batch)
    assert calls == [(6, 4)]
    assert scores[0].tolist() == [10.0, 17.0, float("-inf"), float("-inf")]
    preds = task.predict(None, scores, batch)
    assert [len(p) for p in preds] == [2, 4] and sum(preds[0]) == pytest.approx(1.0)
    assert task.metrics([{**e, "choices": ["a"] * len(e["input_ids"])} for e in examples], preds, None) == {
        "accuracy": 0.5, "count": 2, "chance": pytest.approx((1 / 2 + 1 / 4) / 2)}
    loss = task.loss(None, scores, batch)
    assert torch.isfinite(loss)


def test_bad_files_are_one_line_with_the_json_path(tmp_path):
    task = get_task("choice")
    good = [["男：你好。"], [{"question": "他说什么?", "choice": ["你好", "再见"], "answer": "你好"}], "1-1"]
    wrong = [["女：再见。"], [{"question": "她说什么?", "choice": ["你好", "再见"], "answer": "谢谢"}]]
    with pytest.raises(InputError, match=r"a\.json:\[1\]\[1\]\[0\]\.answer: answer '谢谢' is not one of the choices"):
        task.read(_write(tmp_path / "a.json", [good, wrong]))
    assert len(task.read(_write(tmp_path / "a2.json", [good, wrong]), labelled=False)) == 2
    one = [["女：再见。"], [good[1][0], {"question": "?", "choice": ["再见"], "answer": "再见"}]]
    with pytest.raises(InputError, match=r"b\.json:\[0\]\[1\]\[1\]\.choice: a question needs at least 2 choices, found 1"):
        task.read(_write(tmp_path / "b.json", [one]))
    no_answer = [["女：再见。"], [{"question": "?", "choice": ["你好", "再见"]}]]
    with pytest.raises(InputError, match=r"c\.json:\[0\]\[1\]\[0\]\.answer: answer must be a string"):
        task.read(_write(tmp_path / "c.json", [no_answer]))
    with pytest.raises(InputError, match=r"d\.json:\[\]: expected C3 JSON"):
        task.read(_write(tmp_path / "d.json", {"data": []}))
    with pytest.raises(InputError, match=r"e\.json:\[0\]\[0\]\[1\]: a context sentence must be a string"):
        task.read(_write(tmp_path / "e.json", [[["a", 3], good[1]]]))


def _constructed(path, n, rng):
    """The right choice is the one that holds 对; the others hold 错 (2 to 4 choices)."""
    filler = "书的这本写得内容故事人物作者读完觉得有点非常一般"
    docs = []
    for i in range(n):
        k = rng.randint(2, 4)
        right = rng.randrange(k)
        choices = ["".join(rng.choice(filler) for _ in range(3)) + ("对" if c == right else "错")
                   for c in range(k)]
        question = {"question": "哪个" + rng.choice(filler), "choice": choices, "answer": choices[right],
                    "id": f"q{i}"}
        docs.append([["".join(rng.choice(filler) for _ in range(8))], [question], f"d{i}"])
    return _write(path, docs)


def test_choice_learns_and_predicts(tiny_configs, tmp_path):
    rng = random.Random(0)
    train, dev = _constructed(tmp_path / "train.json", 96, rng), _constructed(tmp_path / "dev.json", 40, rng)
    out = tmp_path / "ft"
    assert run_cli("finetune", "--task", "choice", "--train", train, "--dev", dev, "--test", dev,
                   "--out", out, "--model", tiny_configs["transformer"],
                   "--vocab", data_file("vocab/google_zh_vocab.txt"), "--epochs", "3", "--lr", "5e-3",
                   "--batch-size", "16", "--seq-length", "24", "--device", "cpu", "--quiet") == 0
    results = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["results"]
    assert results["test"]["accuracy"] >= 0.9, results["history"]
    assert results["test"]["chance"] < 0.45 and results["test"]["count"] == 40
    pred = tmp_path / "pred.tsv"
    assert run_cli("predict", "--model", out, "--input", dev, "--out", pred, "--probs", "--device", "cpu",
                   "--quiet") == 0
    lines = pred.read_text(encoding="utf-8").rstrip("\n").split("\n")
    assert lines[0].split("\t") == ["id", "index", "choice", "probs"]
    docs = json.loads(open(dev, encoding="utf-8").read())
    right = 0
    for line, d in zip(lines[1:], docs, strict=True):
        qid, index, text, probs = line.split("\t")
        q = d[1][0]
        assert qid == q["id"] and q["choice"][int(index)] == text
        assert len(probs.split()) == len(q["choice"])
        right += text == q["answer"]
    assert right / len(docs) == pytest.approx(results["test"]["accuracy"])
