"""finetune on two Ray Train workers with DDP: each worker holds half of the examples and
computes its rows of every batch, so the run trains the model the in-process run trains."""

from __future__ import annotations

import json

import pytest
from task_helpers import TINY_LSTM
from uer_testing import data_file

import uer_ray

pytestmark = pytest.mark.ray


def _options(out, vocab, **kw):
    br = "datasets/test_data/book_review/"
    base = dict(task="classify", train=str(data_file(br + "train.tsv")),
                dev=str(data_file(br + "dev.tsv")), test=str(data_file(br + "test.tsv")),
                out=str(out), model=dict(TINY_LSTM), vocab=str(vocab), tokenizer="char",
                epochs=3, batch_size=16, lr=0.01, seq_length=64, progress=False,
                wandb_mode="disabled", device="cpu")
    base.update(kw)
    return uer_ray.FinetuneOptions(**base)


def _controllers() -> set:
    from ray._private.state import actors

    return {k for k, a in actors().items()
            if a["State"] == "ALIVE" and a.get("ActorClassName") == "TrainController"}


def test_two_ddp_workers_match_the_in_process_run(ray_session, char_vocab, tmp_path):
    import signal

    here = uer_ray.finetune(_options(tmp_path / "here", char_vocab))
    epochs = []
    handler, before = signal.getsignal(signal.SIGINT), _controllers()
    ray = uer_ray.finetune(_options(tmp_path / "ray", char_vocab, workers=2), on_epoch=epochs.append)
    # Ray Train's own SIGINT handler is removed again, and with it the last handle on the run's
    # controller actor: the controller exits instead of living as long as this process
    assert signal.getsignal(signal.SIGINT) is handler
    import time

    for _ in range(20):
        if not _controllers() - before:
            break
        time.sleep(0.5)
    assert not _controllers() - before
    a, b = here["results"], ray["results"]
    assert b["workers"] == 2 and [e["epoch"] for e in epochs] == [1, 2, 3]
    assert abs(a["dev"]["accuracy"] - b["dev"]["accuracy"]) <= 0.02, (a["history"], b["history"])
    # the same batches and the same gradients: the training losses agree closely too
    for x, y in zip(a["history"], b["history"], strict=True):
        assert y["train/loss"] == pytest.approx(x["train/loss"], rel=1e-3), (x, y)
    assert b["test"]["accuracy"] == pytest.approx(a["test"]["accuracy"], abs=0.02)
    out = tmp_path / "ray"
    assert (out / "task.json").exists() and not (tmp_path / "ray.ray-work").exists()
    lines = (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(ln)["epoch"] for ln in lines] == [1, 2, 3]
