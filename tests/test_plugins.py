"""A module of one's own is one file (docs/extending.md). A temporary package holds a new encoder,
a new target and a new task, one file each; importing them is the only other step. Then the
search (its space check, stage-2 pre-training on Ray Train workers, fine-tuning in Tune trials,
the winner and its parent published to the zoo with cards), the command line (``UER_RAY_PLUGINS``)
and a fresh process (``plugins.restore``) all take them with no edit anywhere else; and an
encoder that does not say whether it sees the future is refused for ``lm``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from uer_ray import plugins

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "tune"))
from space_helpers import SAMPLES, data_files, write_space  # noqa: E402

ENCODER = '''
"""``cummean``: each position is the running mean of a projection of the tokens so far."""
from dataclasses import dataclass

import torch
from torch import nn

from uer_ray.encoders import ENCODERS, Encoder


@dataclass(frozen=True, kw_only=True)
class CumMeanConfig:
    hidden_size: int = 32


@ENCODERS.register("cummean")
class CumMeanEncoder(Encoder):
    Config = CumMeanConfig
    lr_pretrained, lr_scratch = 1e-3, 1e-2

    @classmethod
    def sees_future(cls, cfg):
        return False

    @classmethod
    def default_pooling(cls, cfg):
        return "last"

    def __init__(self, cfg, input_dim):
        super().__init__()
        self.input_dim, self.output_dim = input_dim, cfg.hidden_size
        self.proj = nn.Linear(input_dim, cfg.hidden_size)

    def forward(self, x, padding_mask):
        h = torch.tanh(self.proj(x))
        steps = torch.arange(1, x.shape[1] + 1, device=x.device, dtype=h.dtype)
        return h.cumsum(1) / steps[None, :, None]
'''

MIXER = '''
"""``mixer``: every position adds the mean of all positions; it does not say it sees the future."""
from dataclasses import dataclass

from torch import nn

from uer_ray.encoders import ENCODERS, Encoder


@dataclass(frozen=True, kw_only=True)
class MixerConfig:
    hidden_size: int = 32


@ENCODERS.register("mixer")
class MixerEncoder(Encoder):
    Config = MixerConfig

    def __init__(self, cfg, input_dim):
        super().__init__()
        self.input_dim, self.output_dim = input_dim, cfg.hidden_size
        self.proj = nn.Linear(input_dim, cfg.hidden_size)

    def forward(self, x, padding_mask):
        h = self.proj(x)
        return h + h.mean(1, keepdim=True)
'''

TARGET = '''
"""``bow``: the mean hidden state predicts which vocabulary entries the text holds."""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from uer_ray.layers.pooling import pool
from uer_ray.targets import TARGETS, Target, TargetOutput
from uer_ray.targets.base import require


@dataclass(frozen=True, kw_only=True)
class BowConfig:
    pass


@TARGETS.register("bow")
class BowTarget(Target):
    Config = BowConfig
    card_task_type = "sentence-similarity"
    logits_shape = ("B", "V")

    def __init__(self, cfg, ctx):
        super().__init__()
        self.output = nn.Linear(ctx.hidden_size, ctx.vocab_size)

    def logits(self, hidden, batch, padding_mask):
        keep = None if padding_mask is None else ~padding_mask
        return self.output(pool(hidden, keep, "mean"))

    def forward(self, hidden, batch, padding_mask):
        logits = self.logits(hidden, batch, padding_mask).float()
        ids = require(batch, "input_ids", self.name)
        real = require(batch, "segment_ids", self.name) != 0
        gold = torch.zeros_like(logits).scatter_(1, ids.masked_fill(~real, 0), 1.0)
        gold[:, 0] = 0.0  # the padding id is not a word of the text
        loss = F.binary_cross_entropy_with_logits(logits, gold)
        with torch.no_grad():
            accuracy = ((logits > 0).float() == gold).float().mean()
        n = torch.tensor(float(ids.shape[0]))
        return TargetOutput(loss, {"loss": loss.detach(), "accuracy": accuracy, "count": n})
'''

TASK = '''
"""``binary``: two classes from one logit and a sigmoid."""
import torch
import torch.nn.functional as F

from uer_ray.errors import InputError
from uer_ray.tasks import TASKS, LabelMap, SentenceTask, SequenceHead


@TASKS.register("binary")
class BinaryTask(SentenceTask):
    card_task_type = "text-classification"

    def build_labels(self, rows, path):
        for r in rows:
            if r.cells["label"] not in ("0", "1"):
                raise InputError(f"binary labels are 0 or 1, not {r.cells['label']!r}", path, r.line)
        return LabelMap(["0", "1"])

    def build_head(self, hidden_size, num_labels, pooling, crf, dropout=0.1):
        return SequenceHead(hidden_size, 1, pooling, dropout=dropout)

    def loss(self, head, output, batch):
        return F.binary_cross_entropy_with_logits(output.squeeze(1).float(), batch["label"].float())

    def predict(self, head, output, batch):
        p = torch.sigmoid(output.float().squeeze(1))
        return torch.stack([1 - p, p], 1).tolist()
'''

FILES = {"my_encoder": ENCODER, "my_mixer": MIXER, "my_target": TARGET, "my_task": TASK}


@pytest.fixture(scope="module")
def plugin_package(tmp_path_factory):
    """The package ``myplugins_<n>`` in a folder of its own, its modules imported; afterwards
    the registries, ``sys.modules`` and ``sys.path`` are as they were."""
    from uer_ray.encoders import ENCODERS
    from uer_ray.targets import TARGETS
    from uer_ray.tasks import TASKS

    root = tmp_path_factory.mktemp("plugins")
    name = f"myplugins_{os.getpid()}"
    (root / name).mkdir()
    (root / name / "__init__.py").write_text("")
    for module, source in FILES.items():
        (root / name / f"{module}.py").write_text(textwrap.dedent(source).lstrip())
    saved = {reg: dict(reg._entries) for reg in (ENCODERS, TARGETS, TASKS)}
    external = dict(plugins._external)
    sys.path.insert(0, str(root))
    try:
        import importlib

        for module in FILES:  # the one import step
            importlib.import_module(f"{name}.{module}")
        yield root, name
    finally:
        sys.path.remove(str(root))
        for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[mod]
        for reg, entries in saved.items():
            reg._entries = entries
        plugins._external = external


def _model(encoder: str, targets: dict) -> dict:
    return {"embedding": ["word"], "encoder": encoder, "targets": targets, "emb_size": 32,
            "hidden_size": 32, "max_seq_length": 64, "dropout": 0.0,
            "encoder_options": {encoder: {"hidden_size": 32}}}


def _space(folder: Path, encoder: str, targets: list[str]) -> dict:
    files = data_files(folder / "data")
    corpus = folder / "corpus.txt"
    corpus.write_text("".join(SAMPLES.joinpath("corpus.txt").open(encoding="utf-8").readlines()[:400]),
                      encoding="utf-8")
    return {
        "name": "plugins", "task": "binary", "dataset": "book_review", "data": files,
        "vocabulary": {"tokenizer": "char", "size": 2000},
        "stage2": {"corpus": str(corpus), "format": "text", "seq_length": 48, "steps": 6,
                   "batch_size": 16, "lr": 3e-3, "workers": 1},
        "encoders": {"mine": {"model": _model(encoder, {"lm": 1.0}), "lr": 1e-2, "targets": targets}},
        "targets": {"bow": {"bow": 1.0}, "lm": {"lm": 1.0}},
        "finetune": {"epochs": 2, "batch_size": 16, "seq_length": 48},
        "budget": {"searcher": "grid", "scheduler": "fifo", "max_concurrent": 1, "publish_top": 1},
    }


@pytest.mark.ray
@pytest.mark.slow
def test_a_search_takes_an_encoder_target_and_task_of_ones_own(ray_session, plugin_package, tmp_path):
    """Stage 2 with the new target on the new encoder (Ray Train workers import the package
    again), fine-tuning on the new task in Tune trials, the winner and its parent in the zoo."""
    from uer_ray.tune import load_space
    from uer_ray.tune.driver import SearchOptions, search

    space = write_space(tmp_path, _space(tmp_path, "cummean", ["none", "bow"]))
    load_space(space)  # every combination builds, with targets that suit the encoder
    zoo = tmp_path / "zoo"
    record = search(SearchOptions(space=str(space), out=str(tmp_path / "out"), zoo=str(zoo),
                                  wandb_mode="disabled", progress=False))
    board = record["results"]["leaderboard"]
    assert sorted(r["stage2"] for r in board) == ["bow", "none"], board
    assert {r["status"] for r in board} == {"finished"}, board
    for row in board:
        trial = json.loads((tmp_path / "out" / "trials" / row["trial"] / "finetune" / "metrics.json")
                           .read_text())
        assert trial["results"]["pooling"] == "last"  # what the encoder declares
        assert 0.0 <= trial["results"]["dev"]["accuracy"] <= 1.0
    stage2 = next((tmp_path / "out" / "stage2").glob("*/metrics.json"))
    assert "bow/loss" in json.loads(stage2.read_text())["results"]["final"]
    cards = {p.parent.parent.parent.name: _front_matter(p)
             for p in zoo.glob("*/versions/*/README.md")}
    tags = sorted(c["pipeline_tag"] for c in cards.values())
    # the fine-tuned winner is the task's kind; a published stage-2 parent is the target's
    assert "text-classification" in tags, cards
    assert set(tags) <= {"text-classification", "sentence-similarity"}, cards


def _front_matter(card: Path) -> dict:
    return yaml.safe_load(card.read_text(encoding="utf-8").split("---")[1])


def test_an_encoder_that_does_not_say_is_refused_for_next_token_targets(plugin_package, tmp_path):
    from uer_ray.errors import UerRayError
    from uer_ray.models.builder import check_targets_fit
    from uer_ray.tune import load_space

    with pytest.raises(UerRayError, match="'mixer' does not declare whether it sees later tokens"):
        check_targets_fit(_model("mixer", {"lm": 1.0}))
    check_targets_fit(_model("mixer", {"bow": 1.0}))  # a target that does not read ahead is fine
    check_targets_fit(_model("cummean", {"lm": 1.0}))
    space = write_space(tmp_path, _space(tmp_path, "mixer", ["lm"]))
    with pytest.raises(UerRayError, match=r"encoders\.mine with target set 'lm'.*does not declare"):
        load_space(space)


def test_pretrain_refuses_them_before_ray_starts(plugin_package, tmp_path, capsys):
    """The command line: one line, exit status 2, no Ray (the shards are a committed fixture)."""
    from uer_ray.cli import main

    model = tmp_path / "mixer.json"
    model.write_text(json.dumps(_model("mixer", {"lm": 1.0})))
    shards = REPO / "tests" / "fixtures" / "legacy" / "shards"
    code = main(["pretrain", "--model", str(model), "--data", str(shards),
                 "--out", str(tmp_path / "run"), "--steps", "2"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "does not declare" in err, err
    assert not (tmp_path / "run").exists()


def test_the_command_line_imports_what_uer_ray_plugins_names(plugin_package, tmp_path):
    """``UER_RAY_PLUGINS`` in a fresh process: fine-tune on the new task, predict with it."""
    root, name = plugin_package
    files = data_files(tmp_path / "data")
    vocab = tmp_path / "vocab.txt"
    env = {**os.environ, "UER_RAY_PLUGINS": f"{name}.my_encoder,{name}.my_task",
           "PYTHONPATH": os.pathsep.join([str(root), str(REPO)]), "WANDB_MODE": "disabled"}
    run = [sys.executable, str(REPO / "run.py")]
    subprocess.run([*run, "vocab", "--corpus", files["train"], "--tokenizer", "char", "--size", "300",
                    "--out", str(vocab)], check=True, capture_output=True, env=env)
    model = tmp_path / "cummean.json"
    model.write_text(json.dumps(_model("cummean", {"lm": 1.0})))
    out = tmp_path / "ft"
    done = subprocess.run([*run, "finetune", "--task", "binary", "--model", str(model), "--vocab",
                           str(vocab), "--tokenizer", "char", "--train", files["train"], "--dev",
                           files["dev"], "--out", str(out), "--epochs", "1", "--seq-length", "48",
                           "--quiet"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Fine-tuned binary" in done.stdout and "pooling last" in done.stdout
    pred = subprocess.run([*run, "predict", "--model", str(out), "--input", files["test"],
                           "--out", str(tmp_path / "pred.tsv")], capture_output=True, text=True, env=env)
    assert pred.returncode == 0, pred.stderr[-2000:]
    assert len((tmp_path / "pred.tsv").read_text().splitlines()) == 81
    # without the variable the task is unknown, said in one line
    env.pop("UER_RAY_PLUGINS")
    again = subprocess.run([*run, "predict", "--model", str(out), "--input", files["test"],
                            "--out", str(tmp_path / "pred2.tsv")], capture_output=True, text=True,
                           env=env)
    assert again.returncode == 2 and "unknown task 'binary'" in again.stderr


def test_a_worker_process_imports_the_modules_its_driver_registered(plugin_package):
    """What the worker specs and the search context carry: ``plugins.loaded()`` restored in a
    process that never imported them (as a Ray worker is)."""
    root, name = plugin_package
    mine = [p for p in plugins.loaded() if p.module.startswith(name)]
    assert {p.module for p in mine} == {f"{name}.{m}" for m in FILES}
    assert {p.path for p in mine} == {str(root)}
    code = ("import sys, pickle; from uer_ray import plugins; "
            "plugins.restore(pickle.loads(sys.stdin.buffer.read())); "
            "from uer_ray.encoders import ENCODERS; from uer_ray.tasks import TASKS; "
            "from uer_ray.targets import TARGETS; "
            "print(ENCODERS.where('cummean').name, 'binary' in TASKS, 'bow' in TARGETS)")
    import pickle

    done = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(tuple(mine)),
                          capture_output=True, cwd="/", env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.stdout.decode().split() == ["my_encoder.py", "True", "True"], done.stderr.decode()
