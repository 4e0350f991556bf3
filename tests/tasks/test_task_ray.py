"""finetune on two Ray Train workers (data parallel, gradients all-reduced)."""

from __future__ import annotations

import json

import pytest
from task_helpers import run_cli


@pytest.mark.ray
def test_finetune_on_two_ray_workers(ray_session, tiny_configs, sentiment_files, char_vocab, tmp_path):
    f = sentiment_files
    out = tmp_path / "ray"
    rc = run_cli("finetune", "--task", "classify", "--train", f["train"], "--dev", f["dev"],
                 "--test", f["dev"], "--out", out, "--model", tiny_configs["lstm"], "--vocab",
                 char_vocab, "--tokenizer", "char", "--epochs", "5", "--lr", "0.01",
                 "--batch-size", "8", "--workers", "2", "--patience", "2", "--quiet")
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert m["workers"] == 2 and 1 <= len(m["history"]) <= 5
    assert m["test"]["accuracy"] >= 0.8, m["history"]
    assert m["dev"]["accuracy"] == pytest.approx(m["test"]["accuracy"])  # same file, best weights
    assert (out / "task.json").exists() and not (tmp_path / "ray.ray-work").exists()
    lines = (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(m["history"])
