"""Training state, metrics.jsonl restart handling, metric reduction and CLI parsing (no Ray)."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from torch import nn

from uer_ray.cli.pretrain import parse_targets
from uer_ray.errors import UerRayError
from uer_ray.tracking import MetricsLog, read_metrics
from uer_ray.tracking.wandb_run import describe_model
from uer_ray.train import state as st
from uer_ray.train.optim import build_optimizer, build_scheduler
from uer_ray.train.reporting import DriverBar, Window


def test_metrics_log_truncates_after_restart_step(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for step in (10, 20, 30, 40):
        log.append({"step": step, "loss": 1.0 / step})
    with open(log.path, "a") as f:
        f.write('{"step": 50, "lo')  # a line torn by a crash
    log.truncate_after(20)  # the checkpoint the run restarts from
    assert [r["step"] for r in read_metrics(log.path)] == [10, 20]
    log.append({"step": 30, "loss": 0.5})
    assert [r["step"] for r in read_metrics(log.path)] == [10, 20, 30]


def test_trainer_state_round_trip_is_weights_only(tmp_path):
    model = nn.Linear(3, 2)
    opt = build_optimizer(model, lr=0.1)
    sched = build_scheduler(opt, kind="linear", warmup_steps=1, total_steps=10)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    sched.step()
    pos = st.Position(step=1, epoch=0, batches_in_epoch=3, micro_batches=3)
    st.save_state(tmp_path, optimizer=opt, scheduler=sched, position=pos, seed=5)
    state = st.load_state(tmp_path)  # torch.load(weights_only=True) inside
    opt2 = build_optimizer(nn.Linear(3, 2), lr=0.1)
    sched2 = build_scheduler(opt2, kind="linear", warmup_steps=1, total_steps=10)
    assert st.restore(state, optimizer=opt2, scheduler=sched2) == pos
    assert sched2.last_epoch == 1 and state["rng"]["seed"] == 5
    exp_avg = opt2.state_dict()["state"][0]["exp_avg"]
    assert torch.equal(exp_avg, opt.state_dict()["state"][0]["exp_avg"])


def test_step_seeds_are_distinct_and_reproducible():
    seeds = {st.step_seed(7, r, s) for r in range(4) for s in range(100)}
    assert len(seeds) == 400
    st.reseed(7, 1, 42)
    a = torch.rand(3)
    st.reseed(7, 1, 42)
    assert torch.equal(a, torch.rand(3))


def test_window_means_and_counts():
    w = Window()
    w.add({"loss": 2.0, "mlm/count": 10.0}, tokens=100)
    w.add({"loss": 4.0, "mlm/count": 6.0}, tokens=50)
    out = w.reduce(world=1)
    assert out["loss"] == 3.0 and out["mlm/count"] == 16.0 and out["tokens"] == 150
    assert out["tokens_per_s"] > 0


def test_parse_targets():
    assert parse_targets("mlm:1,sp:0.5") == {"mlm": 1.0, "sp": 0.5}
    assert parse_targets("lm") == {"lm": 1.0}
    with pytest.raises(UerRayError, match="NAME:WEIGHT"):
        parse_targets("mlm:x")


def test_wandb_names_carry_the_model_choice():
    d = describe_model(
        {
            "embedding": ["word", "pos"],
            "encoder": ["cnn", "lstm"],
            "targets": {"mlm": 1.0, "sp": 0.5},
        }
    )
    assert d["name"] == "word+pos/cnn+lstm/mlm1+sp0.5"
    assert d["group"] == "cnn+lstm-mlm+sp"
    assert "enc:lstm" in d["tags"] and "target:sp" in d["tags"]
    json.dumps(d)


def test_driver_bar_writes_each_state_line_once(monkeypatch, capsys):
    """Ray Train workers patch ``print`` to log and also copy to stdout; the bar's state lines
    must still reach the driver once, or the duplicate "closed" line re-creates the bar."""
    import builtins

    def ray_train_print(*objects, **kwargs):  # what the workers' patched print amounts to
        text = " ".join(map(str, objects))
        sys.stdout.write(text + "\n")
        sys.stdout.write(text + "\n")

    class Bar:  # tqdm_ray's worker side: one print per state change
        def update(self, n):
            print(f"state x+={n}")

        def set_description(self, desc):
            print(f"state desc={desc}")

        def close(self):
            print("state closed")

    monkeypatch.setattr(builtins, "print", ray_train_print)
    bar = DriverBar(Bar())
    bar.update(3)
    bar.set_description("loss 1.0")
    bar.close()
    assert builtins.print is ray_train_print  # restored after each call
    assert capsys.readouterr().out.splitlines() == ["state x+=3", "state desc=loss 1.0", "state closed"]
