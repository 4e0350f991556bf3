"""Acceptance round trip: pre-train checkpoint published, fine-tune from it with the real
``finetune`` command, publish, then ``predict`` from the zoo entry on dev reproduces the recorded
dev metric exactly, and the lineage shows the pre-trained parent.

ADAPT once main's finetune writes the result record (docs/contracts.md): ``_record`` then finds
``format`` in metrics.json and uses it as is (the conversion below is for the old summary shape),
and ``predict --model zoo:NAME@latest`` can be called directly instead of resolving first."""

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


def _record(out: Path, parent_ckpt: Path) -> dict:
    """The fine-tune result record; built from the old summary shape where main still writes it."""
    data = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    if data.get("format") == RECORD_FORMAT:
        return data
    config = json.loads((out / "config.json").read_text())
    scalars = {s: {k: v for k, v in (data.get(s) or {}).items() if isinstance(v, (int, float))}
               for s in ("dev", "test")}
    record = {
        "format": RECORD_FORMAT, "stage": "finetune", "name": f"{data['task']}/sentiment",
        "model": {"embedding": config["embedding"], "encoder": [config["encoder"]], "targets": config["targets"],
                  "parameters": None, "preset": None, "config": config},
        "data": {"finetune": {"dataset": "sentiment", "task": data["task"], "files": {
            k: {"path": v, "rows": data["examples"].get(k)} for k, v in data["files"].items() if v}}},
        "parent": {"checkpoint": str(parent_ckpt), "zoo": None, "relation": "fine-tuned from", "stage": "pretrain"},
        "options": data.get("hyperparameters") or {}, "results": data,
        "metrics": [{"task": data["task"], "dataset": "sentiment", "split": s, "metric": k, "value": v}
                    for s, m in scalars.items() for k, v in m.items()],
        "provenance": {}, "checkpoint": str(out), "seconds": data.get("seconds_total"), "device": "cpu",
        "package": {"name": "uer_ray", "version": "0.1.0"}, "created": "2026-12-01T00:00:00Z",
    }
    (out / "metrics.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return record


def test_finetune_publish_predict_reproduces_the_dev_metric(tmp_path):
    pt = pretrained(tmp_path)
    parent = zoo.publish(pt)
    files = _data(tmp_path)
    out = tmp_path / "cls"
    assert main(["finetune", "--task", "classify", "--init", str(pt / "final"), "--train", str(files["train"]),
                 "--dev", str(files["dev"]), "--out", str(out), "--epochs", "3", "--lr", "0.01",
                 "--batch-size", "16", "--seq-length", "32", "--quiet"]) == 0
    record = _record(out, pt / "final")
    child = zoo.publish(out, aliases=["best-sentiment"])
    entry = Zoo().record(child.name, child.version)
    assert entry["lineage"]["parent"] == f"{parent.name}@{parent.version}"
    dev_accuracy = next(r["value"] for r in entry["results"] if r["split"] == "dev" and r["metric"] == "accuracy")
    assert dev_accuracy == next(r["value"] for r in record["metrics"] if r["split"] == "dev" and r["metric"] == "accuracy")

    model_dir = zoo.resolve_checkpoint(f"zoo:{child.name}@latest")
    pred = tmp_path / "pred.tsv"
    assert main(["predict", "--model", model_dir, "--input", str(files["dev"]), "--out", str(pred), "--quiet"]) == 0
    got = [ln.split("\t")[0] for ln in pred.read_text().splitlines()[1:]]
    gold = [ln.split("\t")[0] for ln in files["dev"].read_text().splitlines()[1:]]
    assert sum(g == p for g, p in zip(gold, got, strict=True)) / len(gold) == dev_accuracy

    chain = Zoo().lineage(f"{child.name}@best-sentiment")
    assert [(e["name"], e["kind"]) for e in chain] == [(parent.name, "pre-trained"), (child.name, "fine-tuned")]
