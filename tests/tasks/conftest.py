"""Fixtures for the fine-tuning tests: tiny model configs, a character vocabulary built by the
``vocab`` command, constructed TSV files, and a helper that runs a command in-process."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from task_helpers import TINY_LSTM, TINY_TRANSFORMER, run_cli, write_tsv
from uer_testing import data_file


@pytest.fixture(scope="session")
def tiny_configs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("configs")
    out = {}
    for name, cfg in (("transformer", TINY_TRANSFORMER), ("lstm", TINY_LSTM)):
        out[name] = d / f"{name}.json"
        out[name].write_text(json.dumps(cfg), encoding="utf-8")
    return out


@pytest.fixture(scope="session")
def sentiment_files(tmp_path_factory) -> dict[str, Path]:
    """A learnable constructed task: label 1 when the text holds 好, 0 when it holds 差;
    around the cue, random filler characters. Also a regression variant (score = count of 好)
    and a DBQA variant (the right answer repeats the question's cue character)."""
    d = tmp_path_factory.mktemp("constructed")
    rng = random.Random(0)
    filler = "书的这本写得内容故事人物作者读完觉得有点非常一般"

    def text(cue: str, n: int = 1) -> str:
        chars = [rng.choice(filler) for _ in range(rng.randint(4, 12))]
        for _ in range(n):
            chars.insert(rng.randint(0, len(chars)), cue)
        return "".join(chars)

    files = {}
    for split, size in (("train", 160), ("dev", 40)):
        rows = [[lab, text("好" if lab else "差")] for lab in (rng.randint(0, 1) for _ in range(size))]
        files[split] = write_tsv(d / f"{split}.tsv", ["label", "text_a"], rows)
        reg = [[n, text("好", n)] for n in (rng.randint(0, 3) for _ in range(size))]
        files[f"regress_{split}"] = write_tsv(d / f"regress_{split}.tsv", ["label", "text_a"], reg)
        qa = []
        for q in range(size // 4):
            cue = rng.choice("甲乙丙丁戊")
            right = rng.randint(0, 3)
            for c in range(4):
                other = rng.choice([x for x in "甲乙丙丁戊" if x != cue])
                qa.append([f"{split}{q}", f"问{cue}", text(cue if c == right else other), int(c == right)])
        files[f"dbqa_{split}"] = write_tsv(d / f"dbqa_{split}.tsv", ["qid", "text_a", "text_b", "label"], qa)
    return files


@pytest.fixture(scope="session")
def char_vocab(tmp_path_factory, sentiment_files) -> Path:
    """A char vocabulary over the constructed files, the test_data sets and an SST-2 slice,
    made by the real ``vocab`` command."""
    d = tmp_path_factory.mktemp("vocab")
    corpus = d / "corpus.txt"
    parts = [p.read_text(encoding="utf-8") for p in sentiment_files.values()]
    for rel in ("datasets/test_data/book_review/train.tsv", "datasets/test_data/msra_ner/train.tsv",
                "datasets/test_data/msra_ner/dev.tsv"):
        parts.append(data_file(rel).read_text(encoding="utf-8"))
    sst = data_file("datasets/sst2/train.tsv")
    parts.append("".join(sst.open(encoding="utf-8").readlines()[:400]))
    corpus.write_text("\n".join(parts), encoding="utf-8")
    out = d / "vocab.txt"
    assert run_cli("vocab", "--corpus", corpus, "--tokenizer", "char", "--size", "6000", "--out", out) == 0
    return out
