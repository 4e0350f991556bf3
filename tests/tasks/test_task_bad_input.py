"""Bad fine-tuning input is one clear error naming the file and the line."""

from __future__ import annotations

import pytest
from task_helpers import run_cli, write_tsv

from uer_ray.errors import InputError
from uer_ray.tasks import LabelMap, get_task, read_tsv


def _finetune_error(capsys, task, train, dev, tiny_configs, char_vocab, tmp_path) -> str:
    rc = run_cli("finetune", "--task", task, "--train", train, "--dev", dev, "--out",
                 tmp_path / "out", "--model", tiny_configs["transformer"], "--vocab", char_vocab,
                 "--tokenizer", "char", "--epochs", "1", "--quiet")
    assert rc == 2
    assert not (tmp_path / "out").exists()  # nothing half-written
    return capsys.readouterr().err


def test_missing_column(tmp_path):
    f = write_tsv(tmp_path / "a.tsv", ["label", "text_a"], [[1, "好"]])
    with pytest.raises(InputError, match=r"a\.tsv:1: missing column 'text_b'"):
        read_tsv(f, ["label", "text_a", "text_b"])


def test_headerless_file_is_reported_as_missing_header(tmp_path):
    f = tmp_path / "cls.txt"
    f.write_text("1\t很好\n0\t不好\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"cls\.txt:1: missing columns 'label', 'text_a'.*header"):
        read_tsv(f, ["label", "text_a"])


@pytest.mark.parametrize("content", ["", "\n\n", "label\ttext_a\n"])
def test_empty_file(tmp_path, content):
    f = tmp_path / "e.tsv"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=r"e\.tsv:1: (the file is empty|no examples)"):
        read_tsv(f, ["label", "text_a"])


def test_wrong_column_count(tmp_path):
    f = tmp_path / "w.tsv"
    f.write_text("label\ttext_a\n1\tok\n0\tbad\textra\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"w\.tsv:3: expected 2 tab-separated columns.*found 3"):
        read_tsv(f, ["label", "text_a"])


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_tsv(tmp_path / "nope.tsv", ["text_a"])


def test_unseen_label_in_dev(capsys, tiny_configs, char_vocab, tmp_path):
    train = write_tsv(tmp_path / "train.tsv", ["label", "text_a"], [[0, "差"], [1, "好"]])
    dev = write_tsv(tmp_path / "dev.tsv", ["label", "text_a"], [[1, "好"], [2, "一般"]])
    err = _finetune_error(capsys, "classify", train, dev, tiny_configs, char_vocab, tmp_path)
    assert "dev.tsv:3: label '2' does not occur in the training file (known labels: 0, 1)" in err


def test_ner_length_mismatch(capsys, tiny_configs, char_vocab, tmp_path):
    train = write_tsv(tmp_path / "train.tsv", ["text_a", "label"],
                      [["北 京 好", "B-LOC I-LOC O"], ["我 们", "O O O"]])
    err = _finetune_error(capsys, "tag", train, train, tiny_configs, char_vocab, tmp_path)
    assert "train.tsv:3: text_a has 2 tokens but label has 3 tags" in err


def test_non_numeric_regression_label(capsys, tiny_configs, char_vocab, tmp_path):
    train = write_tsv(tmp_path / "train.tsv", ["label", "text_a"], [[0.5, "好"], ["high", "差"]])
    err = _finetune_error(capsys, "regress", train, train, tiny_configs, char_vocab, tmp_path)
    assert "train.tsv:3: regression label 'high' is not a finite number" in err


def test_dbqa_labels_must_be_binary(tmp_path):
    f = write_tsv(tmp_path / "q.tsv", ["qid", "text_a", "text_b", "label"], [["q", "a", "b", 2]])
    task = get_task("dbqa")
    with pytest.raises(InputError, match=r"q\.tsv:2: dbqa labels are 0 or 1"):
        task.build_labels(task.read(str(f)), str(f))


def test_dbqa_grouping_through_the_reader(tmp_path):
    """Rows read from a file, grouped by qid: MAP/MRR by hand for fixed scores."""
    f = write_tsv(tmp_path / "q.tsv", ["qid", "text_a", "text_b", "label"],
                  [["a", "q", "x", 0], ["b", "q", "x", 1], ["a", "q", "y", 1], ["b", "q", "y", 0]])
    task = get_task("dbqa")
    rows = task.read(str(f))
    labels = task.build_labels(rows, str(f))
    examples = [{"qid": r.cells["qid"], "label": labels.id(r.cells["label"], str(f), r.line)} for r in rows]
    # a: scores 0.9 (wrong), 0.4 (right) -> AP 1/2, RR 1/2;  b: 0.8 (right) first -> 1, 1
    probs = [[0.1, 0.9], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]]
    m = task.metrics(examples, probs, labels)
    assert m["map"] == pytest.approx(0.75) and m["mrr"] == pytest.approx(0.75)
    assert m["accuracy"] == pytest.approx(0.5)  # predicted 1 1 0 0 against 0 1 1 0


def test_label_map_order():
    assert LabelMap.build(["10", "2", "1"]).labels == ["1", "2", "10"]
    assert LabelMap.build(["I-PER", "O", "B-PER"], first="O").labels == ["O", "B-PER", "I-PER"]
