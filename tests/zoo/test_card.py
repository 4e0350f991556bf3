"""The model card: Hugging Face Hub front matter that parses with yaml.safe_load and whose
model-index holds exactly the entry record's results."""

from __future__ import annotations

import pytest
import yaml
from zoo_helpers import finetuned, pretrained

from uer_ray import zoo
from uer_ray.zoo import Zoo


def _front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    head, _, body = text[4:].partition("\n---\n")
    return yaml.safe_load(head), body


def test_card_front_matter_matches_the_entry_record(tmp_path):
    pt = pretrained(tmp_path)
    a = zoo.publish(pt)
    ft = finetuned(tmp_path, pt / "final", dev={"accuracy": 0.8123456789012345, "macro_f1": 0.7},
                   test={"accuracy": 0.79})
    b = zoo.publish(ft)
    store = Zoo()
    entry = store.record(b.name, b.version)
    card = store.storage.read_bytes(b.name, "versions", b.version, "README.md").decode()
    meta, body = _front_matter(card)
    assert meta["library_name"] == "uer_ray"
    assert {"uer_ray", "fine-tuned", "transformer", "mlm", "sp"} <= set(meta["tags"])
    assert meta["datasets"] == ["book_review"]
    assert meta["base_model"] == f"{a.name}@{a.version}" and meta["base_model_relation"] == "finetune"
    assert meta["pipeline_tag"] == "text-classification"
    (index,) = meta["model-index"]
    assert index["name"] == b.name
    rows = [{"task": r["task"]["name"], "dataset": r["dataset"]["name"], "split": r["dataset"]["split"],
             "metric": m["type"], "value": m["value"]}
            for r in index["results"] for m in r["metrics"]]
    assert rows == entry["results"] and len(rows) == 3
    assert {r["task"]["type"] for r in index["results"]} == {"text-classification"}
    # the body: what it is, how each stage was trained, how to use it, the files
    assert f"1. pre-training: `{a.name}@{a.version}`" in body
    assert "python run.py pretrain --model bert-tiny" in body and "--steps 100" in body
    assert f'uer_ray.load_model("zoo:{b.name}@{b.version}")' in body
    assert f"python run.py predict --model zoo:{b.name}@{b.version}" in body
    assert entry["files"]["model.safetensors"]["sha256"] in body
    # the card's own checksum is in the record, and verify checks it
    assert store.verify(b.ref) == []


def test_pretrained_card_uses_the_pretraining_task(tmp_path):
    a = zoo.publish(pretrained(tmp_path))
    card = Zoo().storage.read_bytes(a.name, "versions", a.version, "README.md").decode()
    meta, _ = _front_matter(card)
    assert meta["pipeline_tag"] == "fill-mask" and "base_model" not in meta
    assert meta["model-index"][0]["results"][0]["metrics"] == [
        {"type": "mlm/loss", "value": 3.25, "name": "train mlm/loss"}]
    assert meta["datasets"] == ["cluecorpussmall"]


@pytest.mark.parametrize(("targets", "kind", "says"), [
    ({"lm": 1.0}, "pre-trained", 'generate --model zoo:m@1 --prompt'),
    ({"bilm": 1.0}, "pre-trained", 'generate --model zoo:m@1 --prompt'),
    ({"mt": 1.0}, "pre-trained", "generate --model zoo:m@1 --input sources.txt"),
    ({"mlm": 1.0, "sp": 1.0}, "pre-trained", None),
    ({"lm": 1.0}, "fine-tuned", None),
])
def test_card_says_how_to_generate_with_a_model_that_can(targets, kind, says):
    from uer_ray.zoo.card import _usage

    usage = "\n".join(_usage({"kind": kind, "model": {"targets": targets}}, "m@1"))
    if says is None:
        assert "run.py generate" not in usage
    else:
        assert says in usage
