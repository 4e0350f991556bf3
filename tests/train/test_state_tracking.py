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


def test_driver_log_acts_on_restart_records_in_order(tmp_path):
    """The driver's log: a restarted worker group's ``restart_from`` drops the lines after its
    checkpoint, the lines that follow are appended; ``on_log`` sees every line, never a
    control record; W&B gets each step once (it cannot step back)."""
    from uer_ray.tracking.wandb_files import read_runs
    from uer_ray.train.runlog import DriverLog

    seen = []
    wandb = {"project": "p", "name": "n", "mode": "offline", "run_id": "abc123",
             "dir": str(tmp_path), "job_type": "pretrain"}
    with DriverLog(tmp_path / "metrics.jsonl", wandb=wandb, config={"k": 1},
                   on_log=seen.append) as log:
        log({"restart_from": 0, "workers": 1})
        for step, loss in ((5, 3.0), (10, 2.0), (15, 1.5)):
            log({"step": step, "loss": loss, "workers": 1})
        log({"restart_from": 10, "workers": 2})  # step 15 is trained again, by 2 workers
        for step, loss in ((15, 1.4), (20, 1.0)):
            log({"step": step, "loss": loss, "workers": 2})
    lines = read_metrics(tmp_path / "metrics.jsonl")
    assert [(r["step"], r["loss"], r["workers"]) for r in lines] == [
        (5, 3.0, 1), (10, 2.0, 1), (15, 1.4, 2), (20, 1.0, 2)]
    assert [r["step"] for r in seen] == [5, 10, 15, 15, 20]
    assert [r["workers"] for r in log.restarts] == [1, 2]
    (run,) = read_runs(tmp_path)
    history = [(row["_step"], row["loss"]) for row in run.history if "loss" in row]
    assert history == [(5, 3.0), (10, 2.0), (15, 1.5), (20, 1.0)]
    assert run.summary["loss"] == 1.0 and run.config["k"] == 1


def test_position_rescales_the_epoch_share_when_the_world_size_changes():
    pos = st.Position(step=10, epoch=1, batches_in_epoch=12, micro_batches=40, world=1)
    assert pos.resized(2).batches_in_epoch == 6 and pos.resized(2).world == 2
    assert pos.resized(1) == pos
    assert st.Position(batches_in_epoch=12).resized(3).batches_in_epoch == 12  # unknown: as is
    assert st.Position(batches_in_epoch=5, world=2).resized(1).batches_in_epoch == 10


def test_window_counts_rows():
    w = Window()
    w.add({"loss": 1.0}, tokens=10, rows=4)
    w.add({"loss": 1.0}, tokens=10, rows=4)
    assert w.reduce(world=1)["rows"] == 8


def test_parse_workers_and_elastic_options():
    import argparse

    from uer_ray.cli.pretrain import parse_workers
    from uer_ray.train.pretrain import PretrainOptions

    assert parse_workers("4") == 4 and parse_workers("2-8") == (2, 8) and parse_workers("3-3") == 3
    for bad in ("0", "3-2", "x", "1-"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_workers(bad)
    o = PretrainOptions(out="o", workers=[1, 2])
    assert o.workers == (1, 2) and (o.min_workers, o.max_workers) == (1, 2)
    assert PretrainOptions.from_dict(o.to_dict()) == o  # run.json round trip
    assert PretrainOptions(out="o", workers=(2, 2)).workers == 2


def test_an_offline_run_file_is_complete_when_finish_returns(tmp_path):
    """wandb-core can still be writing a run's last rows when ``run.finish()`` returns;
    ``WandbRun.finish`` waits for the file's exit record, so a reader right after it (a test, a
    report, a fine-tuning run moving its W&B folder) sees every row."""
    from uer_ray.tracking.wandb_files import is_complete, read_runs
    from uer_ray.tracking.wandb_run import WandbRun, WandbSettings

    for i in range(5):
        folder = tmp_path / str(i)
        run = WandbRun(WandbSettings(project="p", name="n", mode="offline", dir=str(folder),
                                     job_type="pretrain"), {"k": 1})
        path = run._run.settings.sync_file
        for step in range(1, 21):
            run.log({"loss": 1.0 / step}, step=step)
        assert not is_complete(path)  # still open: no exit record yet
        run.finish()
        assert is_complete(path)
        (found,) = read_runs(folder)
        assert [row["_step"] for row in found.history] == list(range(1, 21))
