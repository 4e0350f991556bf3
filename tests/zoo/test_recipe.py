"""Zoo recipes are checked whole before anything runs (no Ray here): every bad case is one
line naming the file and the YAML key path, with "did you mean" for names; the shipped recipe
loads on a fresh clone (its data is bundled)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from uer_testing import REPO, data_file, edit, fails_in_one_line

from uer_ray.zoo.recipe import RecipeError
from uer_ray.zoo.recipe_checks import load_recipe

LSTM = {"embedding": ["word"], "encoder": "lstm", "targets": {"lm": 1.0}, "emb_size": 32,
        "hidden_size": 32, "layers": 1, "max_seq_length": 128, "dropout": 0.0}
BERT = {"embedding": ["word", "pos", "seg"], "encoder": "transformer", "targets": {"mlm": 1.0},
        "emb_size": 32, "hidden_size": 32, "layers": 1, "heads": 2, "ffn_size": 64,
        "max_seq_length": 128, "dropout": 0.0}


@pytest.fixture
def recipe(tmp_path) -> dict:
    (tmp_path / "corpus.txt").write_bytes(data_file("corpora/CLUECorpusSmall_sampled.txt").read_bytes())
    return {
        "name": "tiny",
        "vocabulary": {"tokenizer": "wordpiece", "file": str(data_file("vocab/google_zh_vocab.txt"))},
        "corpora": {"clue": {"files": ["corpus.txt"], "processor": "mlm", "seq_length": 64}},
        "defaults": {"steps": 10, "batch_size": 8, "lr": 1e-3},
        "models": {"lstm": {"model": copy.deepcopy(LSTM)},
                   "bert": {"model": copy.deepcopy(BERT), "lr": 5e-4, "steps": 20}},
        "grid": {"corpora": ["clue"], "models": ["lstm", "bert"]},
        "runs": [{"corpus": "clue", "model": "bert", "name": "my-bert", "aliases": ["mine"]}],
        "aliases": ["tiny"],
    }


def write(tmp_path: Path, recipe: dict, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def fails(tmp_path, recipe: dict, *needles: str) -> str:
    return fails_in_one_line(RecipeError, load_recipe, write(tmp_path, recipe, "bad.yaml"), *needles,
                             prefix=": ")


def test_a_recipe_names_its_runs_uer_style(tmp_path, recipe):
    r = load_recipe(write(tmp_path, recipe))
    assert [(x.name, x.corpus, x.model, x.aliases) for x in r.runs] == [
        ("clue+lstm+lm", "clue", "lstm", ("tiny",)), ("clue+bert+mlm", "clue", "bert", ("tiny",)),
        ("my-bert", "clue", "bert", ("tiny", "mine"))]
    assert r.models["bert"].training == {"steps": 20, "batch_size": 8, "lr": 5e-4}
    assert r.corpora["clue"].files == (str(tmp_path / "corpus.txt"),)  # relative to the file
    assert [x.name for x in r.select(["my-bert"])] == ["my-bert"]
    with pytest.raises(RecipeError, match=r"no run named 'my-bret'; did you mean 'my-bert'\?"):
        r.select(["my-bret"])


def test_bad_keys_fail_with_their_path(tmp_path, recipe):
    fails(tmp_path, edit(recipe, "modles", {}), "modles: unknown key", "did you mean 'models'")
    fails(tmp_path, edit(recipe, "models.lstm.stpes", 3), "models.lstm.stpes: unknown key",
          "did you mean 'steps'")
    fails(tmp_path, edit(recipe, "corpora.clue.seq_lenght", 3), "corpora.clue.seq_lenght",
          "did you mean 'seq_length'")
    fails(tmp_path, edit(recipe, "models.lstm.model.hiden_size", 3),
          "models.lstm.model.hiden_size: unknown key", "did you mean 'hidden_size'")
    fails(tmp_path, edit(recipe, "defaults.schedule", "cosin"), "defaults.schedule",
          "did you mean 'cosine'")
    fails(tmp_path, edit(recipe, "defaults.lr", -1), "defaults.lr: must be above 0")
    fails(tmp_path, edit(recipe, "models.bert.steps", "many"), "models.bert.steps: expected an integer")
    fails(tmp_path, edit(recipe, "aliases", ["latest"]), "aliases[0]", "'latest'")
    fails(tmp_path, edit(recipe, "grid", KeyError) | {"runs": []}, "a grid", "runs list")


def test_unknown_names_fail_with_did_you_mean(tmp_path, recipe):
    fails(tmp_path, edit(recipe, "vocabulary.tokenizer", "wordpeice"), "vocabulary.tokenizer",
          "did you mean 'wordpiece'")
    fails(tmp_path, edit(recipe, "corpora.clue.processor", "mlmm"), "corpora.clue.processor",
          "did you mean 'mlm'")
    fails(tmp_path, edit(recipe, "models.bert.model", "bert-tiyn"), "models.bert.model",
          "unknown preset 'bert-tiyn'", "did you mean 'bert-tiny'")
    fails(tmp_path, edit(recipe, "models.lstm.model.encoder", "lsmt"), "models.lstm.model",
          "unknown encoder 'lsmt'", "did you mean 'lstm'")
    fails(tmp_path, edit(recipe, "models.lstm.targets", {"lmm": 1}), "models.lstm.targets",
          "unknown target 'lmm'", "did you mean 'lm'")
    fails(tmp_path, edit(recipe, "grid.models", ["lstm", "bret"]), "grid.models[1]: no model 'bret'",
          "did you mean 'bert'")
    fails(tmp_path, edit(recipe, "runs", [{"corpus": "cleu", "model": "bert"}]), "runs[0].corpus",
          "did you mean 'clue'")
    fails(tmp_path, edit(recipe, "runs", [{"corpus": "clue", "model": "lstm"}]),
          "two runs publish as 'clue+lstm+lm'")


def test_targets_that_do_not_suit_the_encoder_or_the_corpus(tmp_path, recipe):
    fails(tmp_path, edit(recipe, "models.bert.targets", {"lm": 1}), "models.bert (run clue+bert+lm)",
          "predicts the next token", "sees it")
    fails(tmp_path, edit(recipe, "models.bert.targets", {"mlm": 1, "sp": 1}), "models.bert",
          "'is_next' column", "processor 'mlm'", "processor bert or sop")
    wide = edit(recipe, "models.lstm.model.hidden_size", 48)
    fails(tmp_path, wide, "models.lstm (run clue+lstm+lm)", "tie_weights")


def test_missing_files(tmp_path, recipe):
    fails(tmp_path, edit(recipe, "corpora.clue.files", ["nope.txt"]), "corpora.clue.files[0]",
          "no such file", str(tmp_path / "nope.txt"))
    fails(tmp_path, edit(recipe, "vocabulary.file", "no-vocab.txt"), "vocabulary.file: no such file")
    fails(tmp_path, edit(recipe, "vocabulary.size", 100), "vocabulary", "not both")
    with pytest.raises(RecipeError, match=r"no such recipe file \(did you mean .*recipe.yaml\?\)"):
        load_recipe(write(tmp_path, recipe).with_name("recipe.yml"))


def test_the_cli_says_it_in_one_line(tmp_path, recipe, capsys):
    from uer_ray.cli import main

    path = write(tmp_path, edit(recipe, "models.lstm.targets", {"lmm": 1}))
    assert main(["zoo", "build", str(path), "--zoo", str(tmp_path / "zoo")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("uer-ray zoo: error: ") and "lmm" in err[0], err


def test_the_shipped_recipe_loads_from_the_bundled_data():
    r = load_recipe(REPO / "recipes" / "clue_small.yaml")
    assert [x.name for x in r.runs] == ["clue+lstm+lm", "clue+gatedcnn+lm", "clue+bert-tiny+mlm"]
    assert all(Path(p).is_relative_to(REPO / "uer_ray" / "samples") for p in r.corpora["clue"].files)
    assert Path(r.vocabulary.file).is_relative_to(REPO / "uer_ray" / "samples")


def test_ctrl_c_during_a_build_is_an_event_the_scheduler_checks():
    """A SIGINT that arrives while the build's driver waits in ``ray.wait`` was lost (the build
    could not be stopped); the scheduler now takes it as an event, checked after each wait of at
    most a second, and raises KeyboardInterrupt itself (exit 130). The handler is put back."""
    import os
    import signal

    from uer_ray.zoo.build import _interrupts

    before = signal.getsignal(signal.SIGINT)
    with _interrupts() as interrupted:
        assert not interrupted.is_set()
        os.kill(os.getpid(), signal.SIGINT)  # delivered to the main thread: no exception here
        for _ in range(100):
            if interrupted.is_set():
                break
        assert interrupted.is_set()
    assert signal.getsignal(signal.SIGINT) is before
