"""A zoo recipe built for real on the shared Ray session, and a search that starts from its
entries: tiny LSTM and gated-CNN language models on a slice of the CLUE text (a char vocabulary
built from it), a few steps each, into a temporary zoo. The entries verify and carry cards that
name the recipe and the corpus; a second build skips them; ``force`` rebuilds one; a search
space whose encoders each start from their entry (``stage1: zoo:...``) runs a grid of two
trials, and its winner's lineage is stage 1 -> stage 2 -> fine-tuned."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from space_helpers import SAMPLES, TINY_LSTM, base_space, write_space
from stage1_helpers import TINY_GCNN
from uer_testing import data_file

from uer_ray.zoo import Zoo
from uer_ray.zoo.build import BuildOptions, build

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def tiny_recipe(folder: Path) -> Path:
    corpus = folder / "clue.txt"
    # CLUE documents for the vocabulary and the LMs, plus review text so that the tiny task's
    # characters (space_helpers.data_files) are in the vocabulary
    lines = data_file("corpora/CLUECorpusSmall_sampled.txt").read_text(encoding="utf-8").splitlines()[:40]
    reviews = SAMPLES.joinpath("corpus.txt").read_text(encoding="utf-8")[:3000]
    corpus.write_text("\n".join([*lines, reviews.replace("\n", " "), "好 差"]) + "\n", encoding="utf-8")
    recipe = {
        "name": "tiny",
        "vocabulary": {"tokenizer": "char", "size": 3000},
        "corpora": {"clue": {"files": [corpus.name], "processor": "lm", "seq_length": 64}},
        "defaults": {"steps": 4, "batch_size": 8, "lr": 3e-3, "warmup": 0, "log_every": 2},
        "models": {"lstm": {"model": TINY_LSTM}, "gatedcnn": {"model": TINY_GCNN}},
        "grid": {"corpora": ["clue"], "models": ["lstm", "gatedcnn"]},
        "aliases": ["tiny"],
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def built(ray_session, tmp_path_factory):
    folder = tmp_path_factory.mktemp("recipe")
    options = BuildOptions(recipe=str(tiny_recipe(folder)), zoo=str(folder / "zoo"),
                           out=str(folder / "out"), wandb_mode="disabled", progress=False)
    return folder, options, build(options)


def test_the_build_publishes_every_run_with_its_card(built):
    folder, options, record = built
    rows = {r["run"]: r for r in record["results"]["runs"]}
    assert set(rows) == {"clue+lstm+lm", "clue+gatedcnn+lm"}
    assert {r["status"] for r in rows.values()} == {"built"} and record["stage"] == "recipe"
    zoo = Zoo(options.zoo)
    for name, row in rows.items():
        assert row["steps"] == 4 and row["entry"].startswith(name + "@")
        assert zoo.verify(row["entry"]) == []
        entry = zoo.record(*zoo.resolve(row["entry"]))
        assert entry["kind"] == "pre-trained" and entry["provenance"]["recipe"] == "tiny"
        assert zoo.resolve(f"{name}@tiny") == (entry["name"], entry["version"])
        card = zoo.storage.read_bytes(entry["name"], "versions", entry["version"], "README.md").decode()
        assert "Built by recipe `tiny`" in card and "corpus `clue` (clue.txt)" in card
    assert (Path(options.out) / "metrics.json").is_file()


def test_a_second_build_skips_and_force_rebuilds(built):
    folder, options, first = built
    again = build(options)  # nothing changed: every entry is there
    assert {r["status"] for r in again["results"]["runs"]} == {"skipped"}
    assert {r["entry"] for r in again["results"]["runs"]} == {r["entry"] for r in first["results"]["runs"]}
    forced = build(BuildOptions(**{**options.to_dict(), "force": True, "only": ["clue+lstm+lm"]}))
    (row,) = forced["results"]["runs"]
    assert row["status"] == "built" and not row["resumed"]
    assert len(Zoo(options.zoo).versions("clue+lstm+lm")) == 2


def test_a_search_starts_each_encoder_from_its_entry(built, tmp_path):
    """Two encoders, each with its stage-1 entry; stage 2 (lm) on the task's text, then one
    epoch of fine-tuning; the winner and its stage-2 model are published with their lineage."""
    from uer_ray.tune.driver import SearchOptions, search

    folder, options, _ = built
    s = base_space(tmp_path)
    del s["vocabulary"]
    s["encoders"] = {
        "lstm": {"stage1": "zoo:clue+lstm+lm@tiny", "lr": 1e-2, "targets": ["lm"]},
        "gatedcnn": {"stage1": "zoo:clue+gatedcnn+lm@tiny", "lr": 3e-3, "targets": ["lm"]},
    }
    s["stage2"].update(steps=4, batch_size=8)
    s["finetune"] = {"epochs": 1, "batch_size": 16, "seq_length": 64}
    s["budget"].update(searcher="grid", scheduler="fifo", max_concurrent=2, publish_top=1)
    record = search(SearchOptions(space=str(write_space(tmp_path, s)), out=str(tmp_path / "out"),
                                  zoo=options.zoo, wandb_mode="disabled", progress=False))
    assert record["results"]["status"]["finished"] == 2
    zoo = Zoo(options.zoo)
    (published,) = record["results"]["published"]
    chain = zoo.lineage(published["entry"])
    assert [e["kind"] for e in chain] == ["pre-trained", "pre-trained", "fine-tuned"]
    encoder = record["results"]["winner"]["config"]["encoder"]
    stage1, stage2, tuned = (e["name"] for e in chain)
    assert stage1 == f"clue+{encoder}+lm" and chain[0]["provenance"]["recipe"] == "tiny"
    assert stage2 == f"{stage1}+book_review-lm" and tuned == f"{stage2}+book_review"
    assert chain[1]["lineage"]["relation"] == "stage 2 of"
    assert chain[2]["lineage"]["relation"] == "fine-tuned from"
