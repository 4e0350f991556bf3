"""A trial's configuration is typed inside the search and flat at its edges (Tune's param space,
W&B's config, the search's records): the two forms convert both ways without loss, and flat
configurations written before the type existed read as they are."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest
from space_helpers import base_space, write_space

from uer_ray.tune import load_space
from uer_ray.tune.trial import trial_summary
from uer_ray.tune.trial_config import DEFAULT_EPOCHS, NO_STAGE2, TrialConfig

# As the search wrote them before TrialConfig: a trial's params.json under OUT/tune/ (Tune
# sorts the keys), and the winner of a search's metrics.json (the order the space proposed).
PARAMS_JSON = """{
  "trial": {
    "batch_size": 8,
    "encoder": "lstm",
    "epochs": 3,
    "lr": 0.01,
    "seed": 0,
    "seq_length": 64,
    "stage2": "lm",
    "stage2_steps": 12,
    "targets.lm": 1.0
  }
}"""
WINNER = {"encoder": "lstm", "stage2": "lm", "lr": 0.01, "targets.lm": 1.0, "stage2_steps": 12,
          "epochs": 3, "batch_size": 8, "seq_length": 64, "seed": 0}
NO_STAGE2_TRIAL = {"encoder": "transformer", "stage2": "none", "lr": 0.0001, "epochs": 1,
                   "batch_size": 32, "seq_length": 128, "seed": 0}


def test_a_flat_config_written_before_reads_as_fields():
    trial = TrialConfig.from_flat(json.loads(PARAMS_JSON)["trial"])
    assert trial == TrialConfig(encoder="lstm", stage2="lm", targets={"lm": 1.0}, stage2_steps=12,
                                lr=0.01, finetune={"batch_size": 8, "epochs": 3, "seq_length": 64},
                                seed=0)
    assert trial.has_stage2 and trial.epochs == 3
    assert trial == TrialConfig.from_flat(WINNER)  # the order of the keys does not matter
    # to_flat writes the trial's own keys in the order the space has always proposed them, the
    # fine-tuning fields in the order they came
    assert list(TrialConfig.from_flat(WINNER).to_flat().items()) == list(WINNER.items())
    assert list(trial.to_flat()) == ["encoder", "stage2", "lr", "targets.lm", "stage2_steps",
                                     "batch_size", "epochs", "seq_length", "seed"]
    none = TrialConfig.from_flat(NO_STAGE2_TRIAL)
    assert none.stage2 == NO_STAGE2 and not none.has_stage2
    assert none.targets == {} and none.stage2_steps is None and none.epochs == 1
    assert list(none.to_flat().items()) == list(NO_STAGE2_TRIAL.items())


def test_the_leaderboard_columns_of_an_old_config():
    assert trial_summary(TrialConfig.from_flat(WINNER)) == {
        "encoder": "lstm", "stage2": "lm", "weights": "lm:1", "stage2_steps": 12, "lr": 0.01,
        "epochs": 3, "batch_size": 8, "seq_length": 64, "seed": 0}
    assert trial_summary(TrialConfig.from_flat(NO_STAGE2_TRIAL))["weights"] == "-"


def test_a_space_without_epochs_trains_the_finetune_default():
    trial = TrialConfig(encoder="lstm", lr=1e-3, seed=1)
    assert trial.epochs == DEFAULT_EPOCHS == 3
    assert trial.to_flat() == {"encoder": "lstm", "stage2": "none", "lr": 1e-3, "seed": 1}


@pytest.fixture
def space(tmp_path):
    s = base_space(tmp_path)
    s["encoders"]["transformer"]["targets"] = ["none", "mlm+cls"]
    s["targets"]["mlm+cls"]["cls"] = {"choice": [0.5, 1]}
    s["finetune"]["batch_size"] = {"choice": [8, 16]}
    return load_space(write_space(tmp_path, s))


def test_every_proposal_round_trips_through_the_flat_form(space):
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = random.Random(0)
    proposed = space.grid(3) + [space.sample(rng, 3) for _ in range(20)]
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    for _ in range(5):
        trial = study.ask()
        proposed.append(space.suggest(trial, 3))
        study.tell(trial, 0.5)
    assert {c.stage2 for c in proposed} == {"lm", "none", "mlm+cls"}
    for config in proposed:
        flat = config.to_flat()
        # what Tune keeps: plain JSON values under the keys W&B and the records have always had
        assert json.loads(json.dumps(flat)) == flat
        assert TrialConfig.from_flat(flat) == config
        assert TrialConfig.from_flat(json.loads(json.dumps(flat, sort_keys=True))) == config
        assert {"encoder", "stage2", "lr", "seed", "epochs", "batch_size", "seq_length"} <= set(flat)
        assert ("stage2_steps" in flat) == config.has_stage2
        assert {k for k in flat if k.startswith("targets.")} == {f"targets.{t}" for t in config.targets}


def test_grid_keeps_its_order_and_a_repeat_changes_only_the_seed(space):
    grid = space.grid(0)
    assert len(grid) == space.size() == 2 + 2 + 2 * 2
    assert [(c.encoder, c.stage2, c.targets, c.finetune["batch_size"]) for c in grid] == [
        ("lstm", "lm", {"lm": 1.0}, 8), ("lstm", "lm", {"lm": 1.0}, 16),
        ("transformer", "none", {}, 8), ("transformer", "none", {}, 16),
        ("transformer", "mlm+cls", {"mlm": 1.0, "cls": 0.5}, 8),
        ("transformer", "mlm+cls", {"mlm": 1.0, "cls": 0.5}, 16),
        ("transformer", "mlm+cls", {"mlm": 1.0, "cls": 1}, 8),
        ("transformer", "mlm+cls", {"mlm": 1.0, "cls": 1}, 16)]
    again = replace(grid[0], seed=5)
    assert again.to_flat() == {**grid[0].to_flat(), "seed": 5}
