"""Acceptance round trip: a pre-trained checkpoint published, ``finetune --init zoo:NAME@latest
--publish`` from it with the real command, then ``predict --model zoo:NAME@latest`` on dev
reproduces the recorded dev metric exactly, and the lineage shows the pre-trained parent."""

from __future__ import annotations

import json
import random
from pathlib import Path

from zoo_helpers import CHARS, pretrained

from uer_ray import zoo
from uer_ray.cli import main
from uer_ray.records import RECORD_FORMAT
from uer_ray.zoo import Zoo


def _tsv(path: Path, rows: list[list]) -> Path:
    path.write_text("label\ttext_a\n" + "".join(f"{a}\t{b}\n" for a, b in rows), encoding="utf-8")
    return path


def _data(tmp: Path) -> dict[str, Path]:
    rng = random.Random(0)
    filler = [c for c in CHARS if c not in "好差"]

    def text(cue):
        chars = [rng.choice(filler) for _ in range(rng.randint(4, 10))]
        chars.insert(rng.randint(0, len(chars)), cue)
        return "".join(chars)

    return {split: _tsv(tmp / f"{split}.tsv", [[lab, text("好" if lab else "差")]
                                              for lab in (rng.randint(0, 1) for _ in range(n))])
            for split, n in (("train", 96), ("dev", 32))}


def test_finetune_publish_predict_reproduces_the_dev_metric(tmp_path):
    pt = pretrained(tmp_path)
    parent = zoo.publish(pt)
    files = _data(tmp_path)
    out = tmp_path / "cls"
    assert main(["finetune", "--task", "classify", "--init", f"zoo:{parent.name}@latest",
                 "--train", str(files["train"]), "--dev", str(files["dev"]), "--out", str(out),
                 "--epochs", "3", "--lr", "0.01", "--batch-size", "16", "--seq-length", "32",
                 "--dataset", "sentiment", "--quiet", "--publish"]) == 0
    record = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert record["format"] == RECORD_FORMAT
    assert record["parent"]["zoo"] == f"{parent.name}@{parent.version}"
    (name,) = [n for n in Zoo().names() if n != parent.name]
    child = zoo.EntryRef(name, Zoo().versions(name)[-1], "")
    Zoo().set_alias(f"{name}@latest", "best-sentiment")
    entry = Zoo().record(child.name, child.version)
    assert entry["lineage"]["parent"] == f"{parent.name}@{parent.version}"
    dev_accuracy = next(r["value"] for r in entry["results"] if r["split"] == "dev" and r["metric"] == "accuracy")
    assert dev_accuracy == next(r["value"] for r in record["metrics"] if r["split"] == "dev" and r["metric"] == "accuracy")

    pred = tmp_path / "pred.tsv"
    assert main(["predict", "--model", f"zoo:{child.name}@latest", "--input", str(files["dev"]),
                 "--out", str(pred), "--quiet"]) == 0
    got = [ln.split("\t")[0] for ln in pred.read_text().splitlines()[1:]]
    gold = [ln.split("\t")[0] for ln in files["dev"].read_text().splitlines()[1:]]
    assert sum(g == p for g, p in zip(gold, got, strict=True)) / len(gold) == dev_accuracy

    chain = Zoo().lineage(f"{child.name}@best-sentiment")
    assert [(e["name"], e["kind"]) for e in chain] == [(parent.name, "pre-trained"), (child.name, "fine-tuned")]
