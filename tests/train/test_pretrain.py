"""End-to-end pre-training on Ray with tiny shards and a tiny BERT: the loss falls and the final
checkpoint loads; a killed worker is replaced from the last checkpoint without gaps or repeats in
metrics.jsonl; a killed driver resumes with --resume to the same weights as an uninterrupted
run; the driver writes metrics.jsonl and the one W&B run from rank 0's records.

These are the few real Ray tests of the training package; they share the session's cluster.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from uer_testing import data_file

from uer_ray.tracking import read_metrics
from uer_ray.tracking.wandb_files import read_runs
from uer_ray.train.driver import run_folder
from uer_ray.train.pretrain import RUN_NAME, PretrainOptions, pretrain

pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parents[2]


def _options(model, data, out, **kw) -> PretrainOptions:
    base = dict(
        model=model,
        data=str(data),
        out=str(out),
        vocab=str(data_file("vocab/google_zh_vocab.txt")),
        steps=24,
        batch_size=16,
        lr=3e-3,
        warmup=2,
        log_every=4,
        save_every=8,
        keep=2,
        seed=11,
        workers=1,
        deterministic=True,
        wandb_mode="disabled",
        shuffle_buffer=64,
        cache_data="off",  # streaming; the killed-worker test covers the in-memory cache
    )
    base.update(kw)
    return PretrainOptions(**base)


def _steps(out) -> list[int]:
    return [r["step"] for r in read_metrics(Path(out) / "metrics.jsonl")]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def slow_steps(pid_dir: Path, seconds: float):
    """An ``on_step`` hook: each worker notes its PID and sleeps after every step, so that a tiny
    run can be interrupted mid-way (a nested function: Ray pickles it by value)."""

    def hook(rank: int, step: int) -> None:
        pid_dir.mkdir(parents=True, exist_ok=True)
        # written whole, then renamed: a reader never sees the file empty (mid-write)
        tmp = pid_dir / f"rank{rank}.{os.getpid()}.tmp"
        tmp.write_text(str(os.getpid()))
        os.replace(tmp, pid_dir / f"rank{rank}.pid")
        time.sleep(seconds)

    return hook


def _kill_leftovers(pid_dir: Path) -> None:
    """Workers exit with their run; stop any that did not (by PID, ours only)."""
    for f in pid_dir.glob("*.pid"):
        pid = int(f.read_text())
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def reference_run(ray_session, bert_shards, tiny_bert_json, tmp_path_factory):
    """An uninterrupted one-worker run: the loss test and the resume test compare against it."""
    out = tmp_path_factory.mktemp("reference")
    summary = pretrain(_options(tiny_bert_json, bert_shards, out))
    return out, summary


def test_loss_falls_and_final_checkpoint_loads(reference_run, bert_shards):
    from uer_ray.data import Collator, MaskingConfig
    from uer_ray.models import load_model

    out, summary = reference_run
    records = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in records] == [4, 8, 12, 16, 20, 24]
    assert records[-1]["mlm/loss"] < records[0]["mlm/loss"] - 0.5
    assert summary["results"]["steps"] == 24 and (out / "metrics.json").exists()
    assert summary["format"] == "uer_ray.result/1" and summary["stage"] == "pretrain"
    assert summary["model"]["targets"] == {"mlm": 1.0, "sp": 1.0} and summary["model"]["parameters"] > 0
    assert len(summary["data"]["pretrain"]["manifest_sha256"]) == 64
    kept = [p.name for p in run_folder(out, RUN_NAME).glob("checkpoint_*") if p.is_dir()]
    assert sorted(kept) == ["checkpoint_00000016", "checkpoint_00000024"]  # keep-last-2
    model = load_model(out / "final")
    assert model.tokenizer is not None and model.tokenizer.vocab_size == model.config.vocab_size
    ids = model.tokenizer.encode("今天天气很好")
    batch = Collator.from_tokenizer(model.tokenizer, masking=MaskingConfig())(
        [{"input_ids": [2] + ids + [3], "segment_ids": [1] * (len(ids) + 2), "is_next": 1}]
    )
    logits = model.logits(batch["input_ids"], batch["segment_ids"])
    assert logits["mlm"].shape[-1] == model.config.vocab_size and logits["sp"].shape == (1, 2)


def _wait_for(path: Path, timeout: float, proc: subprocess.Popen | None = None) -> None:
    end = time.time() + timeout
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"run ended early: {proc.stderr.read()[-3000:]}")
        assert time.time() < end, f"timed out waiting for {path}"
        time.sleep(0.2)


RESUME_SCRIPT = """
import json, os, sys, time
from pathlib import Path
from uer_ray.train.pretrain import PretrainOptions, pretrain

def slow(rank, step):  # note the worker's PID (the test stops leftovers by it), then dawdle
    pids = Path(sys.argv[2])
    pids.mkdir(parents=True, exist_ok=True)
    tmp = pids / f"rank{rank}.{os.getpid()}.tmp"  # written whole, then renamed
    tmp.write_text(str(os.getpid()))
    os.replace(tmp, pids / f"rank{rank}.pid")
    time.sleep(0.3)

pretrain(PretrainOptions.from_dict(json.loads(sys.argv[1])), on_step=slow)
"""


def test_resume_after_driver_killed_matches_uninterrupted(
    reference_run, ray_session, bert_shards, tiny_bert_json, tmp_path
):
    """Exact equality holds: one worker and --deterministic replay the same batches, masking and
    dropout depend only on (seed, rank, step), and optimiser/scheduler state is restored."""
    from uer_ray.models import load_state

    ref_out, _ = reference_run
    out = tmp_path / "run"
    opts = _options(tiny_bert_json, bert_shards, out)
    kw = {**opts.to_dict(), "address": ray_session.get_runtime_context().gcs_address}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", RESUME_SCRIPT, json.dumps(kw), str(tmp_path / "pids")],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(run_folder(out, RUN_NAME) / "checkpoint_00000008", 240, proc)
        time.sleep(1.0)  # a few steps past the checkpoint: they must be redone, not kept
    finally:
        proc.kill()  # the driver dies; its Ray Train controller and workers go with it
        proc.wait()
    assert _steps(out)[-1] < 24
    try:
        pretrain(_options(tiny_bert_json, bert_shards, out, resume=True))
    finally:
        _kill_leftovers(tmp_path / "pids")
    assert _steps(out) == [4, 8, 12, 16, 20, 24]
    ref, got = read_metrics(ref_out / "metrics.jsonl"), read_metrics(out / "metrics.jsonl")
    for r, g in zip(ref, got, strict=True):
        assert r["loss"] == g["loss"], f"first difference at step {r['step']}: {r} vs {g}"
    a, b = load_state(ref_out / "final"), load_state(out / "final")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from uninterrupted"


def test_killed_worker_restarts_from_checkpoint(ray_session, bert_shards, tiny_bert_json, tmp_path):
    out, pid_dir = tmp_path / "run", tmp_path / "pids"
    killed = {}

    def kill_rank1():
        try:
            _wait_for(run_folder(out, RUN_NAME) / "checkpoint_00000008", 240)
            time.sleep(0.8)
            pid = int((pid_dir / "rank1.pid").read_text())
            os.kill(pid, signal.SIGKILL)
            killed["pid"] = pid
        except BaseException as e:  # the assertion below names it
            killed["error"] = repr(e)

    killer = threading.Thread(target=kill_rank1, daemon=True)
    killer.start()
    opts = _options(
        tiny_bert_json,
        bert_shards,
        out,
        workers=2,
        batch_size=8,
        steps=20,
        deterministic=False,
        cache_data="on",
        wandb_mode="offline",
        max_failures=2,
    )
    try:
        summary = pretrain(opts, on_step=slow_steps(pid_dir, 0.25))
    finally:
        killer.join(timeout=5)
        _kill_leftovers(pid_dir)
    assert "pid" in killed and not _alive(killed["pid"]), killed
    assert int((pid_dir / "rank1.pid").read_text()) != killed["pid"]  # a new worker took over
    assert _steps(out) == [4, 8, 12, 16, 20]  # no gap, no step twice
    assert summary["results"]["steps"] == 20
    # W&B: one offline run, opened by the driver, holding each logged step once. Steps that were
    # trained again after the restart are not sent twice (W&B cannot step back): W&B keeps
    # their first values, metrics.jsonl those of the restarted run.
    runs = read_runs(out / "wandb")
    assert len(runs) == 1, [r.path for r in runs]
    history = {int(row["_step"]): row for row in runs[0].history if "mlm/loss" in row}
    records = read_metrics(out / "metrics.jsonl")
    assert sorted(history) == [r["step"] for r in records]
    redone = {12}  # between the checkpoint at 8 and the kill: logged by either attempt
    for r in records:
        if r["step"] not in redone:
            assert history[r["step"]]["mlm/loss"] == r["mlm/loss"], (r, history[r["step"]])
    assert history[20]["workers"] == 2


def test_resume_extends_a_finished_run_and_refuses_other_changes(
    ray_session, bert_shards, tiny_bert_json, tmp_path, capsys
):
    """30 steps, then ``--resume --steps 50``: the run continues from step 30 to 50 with every
    step logged once and the schedule re-planned; ``--resume --lr`` is refused naming ``lr``."""
    from uer_ray.cli import main

    out = tmp_path / "run"
    vocab = str(data_file("vocab/google_zh_vocab.txt"))
    first = ["pretrain", "--model", tiny_bert_json, "--data", str(bert_shards), "--out", str(out),
             "--vocab", vocab, "--steps", "30", "--batch-size", "8", "--log-every", "10",
             "--save-every", "10", "--lr", "3e-3", "--wandb-mode", "disabled"]
    logged = []
    from uer_ray.train.pretrain import PretrainOptions as Options

    assert main(first) == 0
    capsys.readouterr()
    assert main(["pretrain", "--out", str(out), "--resume", "--lr", "1e-3"]) == 2
    err = capsys.readouterr().err
    assert "lr (stored 0.003, given 0.001)" in err and len(err.strip().splitlines()) == 1, err
    record = pretrain(Options(out=str(out), resume=True, steps=50), on_log=logged.append)
    assert _steps(out) == [10, 20, 30, 40, 50]  # each step once
    assert [r["step"] for r in logged] == [40, 50]
    assert record["results"]["extended"] == {"from_steps": 30, "to_steps": 50}
    lrs = [r["lr"] for r in read_metrics(out / "metrics.jsonl")]
    assert lrs[2] < 1e-4 and lrs[3] > 1e-4  # the end of the 30-step schedule, then re-planned
    assert main(["pretrain", "--out", str(out), "--resume"]) == 0
    assert "nothing to do" in capsys.readouterr().out


def interrupt_driver(driver_pid: int, at_step: int):
    """An ``on_step`` hook: the user presses Ctrl-C (SIGINT to the driver) at ``at_step``."""

    def hook(rank: int, step: int) -> None:
        if rank == 0 and step == at_step:
            os.kill(driver_pid, signal.SIGINT)
        time.sleep(0.2)

    return hook


def test_ctrl_c_stops_the_run_as_an_interruption(ray_session, bert_shards, tiny_bert_json, tmp_path):
    """Ray Train aborts the run on SIGINT and then leaves its ``ray.get`` with SystemExit(1); the
    driver turns that into KeyboardInterrupt (the command's "interrupted", exit 130) and puts the
    previous SIGINT handler back."""
    before = signal.getsignal(signal.SIGINT)
    options = replace(_options(tiny_bert_json, bert_shards, tmp_path / "run"), steps=400)
    with pytest.raises(KeyboardInterrupt):
        pretrain(options, on_step=interrupt_driver(os.getpid(), 3))
    assert signal.getsignal(signal.SIGINT) is before
    assert (tmp_path / "run" / "run.json").exists()  # --resume can continue it
