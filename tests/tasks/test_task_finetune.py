"""finetune and predict end to end on tiny models: constructed learnable files, the CI subsets
of book_review and MSRA NER, and SST-2 slices."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file
from task_helpers import run_cli, write_tsv
from uer_testing import data_file

from uer_ray.models import build_model, save_pretrained
from uer_ray.tokenizers import build_tokenizer


def finetune(task, train, dev, out, *extra, test=None, model=None, vocab=None):
    argv = ["finetune", "--task", task, "--train", train, "--dev", dev, "--out", out, "--quiet",
            "--tokenizer", "char", *extra]
    if test:
        argv += ["--test", test]
    if model:
        argv += ["--model", model]
    if vocab:
        argv += ["--vocab", vocab]
    assert run_cli(*argv) == 0
    record = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert record["format"] == "uer_ray.result/1" and record["stage"] == "finetune"
    return record["results"]


def read_rows(path):
    lines = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    return lines[0].split("\t"), [ln.split("\t") for ln in lines[1:]]


def test_classify_learns_and_predicts(tiny_configs, sentiment_files, char_vocab, tmp_path):
    f = sentiment_files
    out = tmp_path / "cls"
    m = finetune("classify", f["train"], f["dev"], out, "--epochs", "4", "--lr", "0.01",
                 "--batch-size", "16", "--device", "cpu", test=f["dev"],
                 model=tiny_configs["lstm"], vocab=char_vocab)
    assert m["test"]["accuracy"] >= 0.9, m["history"]
    assert m["pooling"] == "mean" and m["labels"] == ["0", "1"]
    assert sum(map(sum, m["test"]["confusion"])) == 40
    assert set(m["test"]["per_label"]) == {"0", "1"}
    assert len(m["history"]) == 4 and m["seconds_per_epoch"] > 0
    task = json.loads((out / "task.json").read_text(encoding="utf-8"))
    assert task["task"] == "classify" and task["labels"] == ["0", "1"]

    pred = tmp_path / "pred.tsv"
    assert run_cli("predict", "--model", out, "--input", f["dev"], "--out", pred, "--probs",
                   "--device", "cpu", "--quiet") == 0
    header, rows = read_rows(pred)
    assert header == ["label", "prob_0", "prob_1"]
    _, gold = read_rows(f["dev"])
    assert len(rows) == len(gold)
    assert all(abs(float(r[1]) + float(r[2]) - 1) < 1e-4 for r in rows)
    right = sum(r[0] == g[0] for r, g in zip(rows, gold, strict=True)) / len(gold)
    assert right == pytest.approx(m["test"]["accuracy"])


def test_regress_and_dbqa(tiny_configs, sentiment_files, char_vocab, tmp_path):
    f = sentiment_files
    m = finetune("regress", f["regress_train"], f["regress_dev"], tmp_path / "reg", "--epochs", "8",
                 "--lr", "0.01", "--batch-size", "16", model=tiny_configs["lstm"], vocab=char_vocab)
    assert m["dev"]["pearson"] > 0.5 and "spearman" in m["dev"]
    pred = tmp_path / "reg.tsv"
    assert run_cli("predict", "--model", tmp_path / "reg", "--input", f["regress_dev"], "--out", pred, "--quiet") == 0
    header, rows = read_rows(pred)
    assert header == ["score"] and len(rows) == 40

    m = finetune("dbqa", f["dbqa_train"], f["dbqa_dev"], tmp_path / "qa", "--epochs", "2",
                 "--batch-size", "16", model=tiny_configs["transformer"], vocab=char_vocab)
    assert m["select_metric"] == "map" and 0 < m["dev"]["mrr"] <= 1 and m["dev"]["questions"] == 10
    pred = tmp_path / "qa.tsv"
    assert run_cli("predict", "--model", tmp_path / "qa", "--input", f["dbqa_dev"], "--out", pred, "--quiet") == 0
    header, rows = read_rows(pred)
    assert header == ["qid", "label", "score"] and rows[0][0] == "dev0"


def test_tag_on_msra_subset_with_and_without_crf(tiny_configs, char_vocab, tmp_path):
    train, dev = data_file("datasets/test_data/msra_ner/train.tsv"), data_file("datasets/test_data/msra_ner/dev.tsv")
    small = tmp_path / "train.tsv"
    small.write_text("".join(train.open(encoding="utf-8").readlines()[:201]), encoding="utf-8")
    for crf in ((), ("--crf",)):
        out = tmp_path / f"ner{len(crf)}"
        m = finetune("tag", small, dev, out, *crf, "--epochs", "1", "--seq-length", "64",
                     test=dev, model=tiny_configs["lstm"], vocab=char_vocab)
        t = m["test"]
        assert m["select_metric"] == "f1" and 0.0 <= t["f1"] <= 1.0
        assert t["gold_entities"] > 0 and "per_type" in t and m["labels"][0] == "O"
    pred = tmp_path / "ner.tsv"
    nolabel = data_file("datasets/test_data/msra_ner/test_nolabel.tsv")
    assert run_cli("predict", "--model", out, "--input", nolabel, "--out", pred, "--quiet") == 0
    _, rows = read_rows(pred)
    _, texts = read_rows(nolabel)
    assert len(rows) == len(texts)
    # every token gets a tag, also beyond --seq-length 64 (predicted O there)
    assert all(len(r[0].split()) == len(t[0].split()) for r, t in zip(rows, texts, strict=True))


def test_classify_and_pair_on_ci_subsets(tiny_configs, char_vocab, tmp_path):
    br = "datasets/test_data/book_review/"
    m = finetune("classify", data_file(br + "train.tsv"), data_file(br + "dev.tsv"), tmp_path / "br",
                 "--epochs", "1", "--seq-length", "64", test=data_file(br + "test.tsv"),
                 model=tiny_configs["transformer"], vocab=char_vocab)
    assert m["examples"] == {"train": 200, "dev": 50, "test": 50} and m["pooling"] == "first"
    # SST-2 slices: classify, and a pair task built from them (same sentiment or not)
    lines = data_file("datasets/sst2/train.tsv").read_text(encoding="utf-8").split("\n")[1:301]
    rows = [ln.split("\t") for ln in lines]
    write_tsv(tmp_path / "s_train.tsv", ["label", "text_a"], rows[:240])
    write_tsv(tmp_path / "s_dev.tsv", ["label", "text_a"], rows[240:])
    m = finetune("classify", tmp_path / "s_train.tsv", tmp_path / "s_dev.tsv", tmp_path / "sst",
                 "--epochs", "1", "--seq-length", "64", model=tiny_configs["transformer"], vocab=char_vocab)
    assert 0 <= m["dev"]["accuracy"] <= 1
    pairs = [[int(a[0] == b[0]), a[1], b[1]] for a, b in zip(rows[0::2], rows[1::2], strict=True)]
    write_tsv(tmp_path / "p_train.tsv", ["label", "text_a", "text_b"], pairs[:120])
    write_tsv(tmp_path / "p_dev.tsv", ["label", "text_a", "text_b"], pairs[120:])
    m = finetune("pair", tmp_path / "p_train.tsv", tmp_path / "p_dev.tsv", tmp_path / "pair",
                 "--epochs", "1", "--seq-length", "64", model=tiny_configs["transformer"], vocab=char_vocab)
    assert m["examples"]["dev"] == 30 and len(m["dev"]["confusion"]) == 2


def _init_checkpoint(config_path, vocab, folder):
    tok = build_tokenizer("char", vocab=vocab)
    model = build_model(json.loads(config_path.read_text()), vocab_size=tok.vocab_size)
    save_pretrained(model, folder, tokenizer=tok)
    return load_file(str(folder / "model.safetensors"))


@pytest.mark.parametrize("freeze", [True, False])
def test_freeze_trains_only_the_head(freeze, tiny_configs, sentiment_files, char_vocab, tmp_path):
    init = _init_checkpoint(tiny_configs["transformer"], char_vocab, tmp_path / "init")
    f = sentiment_files
    out = tmp_path / "ft"
    extra = ("--freeze",) if freeze else ()
    m = finetune("classify", f["train"], f["dev"], out, *extra, "--epochs", "1", "--lr", "0.01",
                 "--init", tmp_path / "init")
    assert m["freeze"] is freeze and "from" not in m["source"]
    after = load_file(str(out / "model.safetensors"))
    changed = [k for k in init if k.startswith(("embedding.", "encoder.")) and not (init[k] == after[k]).all()]
    assert (changed == []) is freeze, changed
    head = load_file(str(out / "head.safetensors"))
    assert "output.weight" in head


def test_wandb_offline_run_holds_the_epoch_metrics(tiny_configs, sentiment_files, char_vocab, tmp_path):
    from uer_testing import wandb_values

    f, out = sentiment_files, tmp_path / "cls"
    m = finetune("classify", f["train"], f["dev"], out, "--epochs", "2", "--lr", "0.01",
                 "--batch-size", "16", "--wandb-mode", "offline", test=f["dev"],
                 model=tiny_configs["lstm"], vocab=char_vocab)
    files = sorted((out / "wandb").glob("offline-run-*/*.wandb"))
    assert len(files) == 1, files
    data = files[0].read_bytes()
    logged = {float(v) for v in wandb_values(data, "dev/accuracy")}
    assert {r["dev/accuracy"] for r in m["history"]} <= logged
    assert float(wandb_values(data, "test/accuracy")[-1]) == m["test"]["accuracy"]
    assert b"classify/word/lstm/scratch" in data and b"finetune-classify" in data
    assert not list(tmp_path.glob(".cls.wandb-*"))  # the scratch folder is gone
