"""Every user mistake is one line on stderr and exit status 2, never a traceback: each command
with a misspelt preset, task, encoder, target, config key or choice. Pre-training finds a bad
configuration on the driver, before Ray starts (a Ray start here fails the test)."""

from __future__ import annotations

import json

import pytest
from uer_testing import SAMPLES

from uer_ray import cli
from uer_ray.models import load_preset

TINY = {**load_preset("bert-tiny"), "layers": 1, "hidden_size": 32, "emb_size": 32,
        "ffn_size": 64}


@pytest.fixture
def files(tmp_path):
    rows = "label\ttext_a\n1\t好书\n0\t差书\n"
    for name in ("train", "dev"):
        (tmp_path / f"{name}.tsv").write_text(rows, encoding="utf-8")
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "好", "差", "书"]),
                     encoding="utf-8")
    for name, change in (("enc", {"encoder": "lstmm"}), ("key", {"hiden_size": 32}),
                         ("target", {"targets": {"mlm": 1, "spp": 1}})):
        (tmp_path / f"{name}.json").write_text(json.dumps({**TINY, **change}), encoding="utf-8")
    (tmp_path / "shards").mkdir()
    return tmp_path


@pytest.fixture
def no_ray(monkeypatch):
    import uer_ray.cluster

    def refuse(*a, **k):
        raise AssertionError("Ray was started before the configuration was checked")

    monkeypatch.setattr(uer_ray.cluster, "ensure_ray", refuse)


def one_line_error(capsys, argv: list, *needles: str) -> str:
    rc = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2, (argv, err)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"uer-ray {argv[0]}: error: ") or err.startswith("uer-ray: error:"), err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def test_pretrain_mistakes_fail_before_ray_starts(files, capsys, no_ray):
    base = ["pretrain", "--data", files / "shards", "--out", files / "out", "--vocab", files / "vocab.txt"]
    one_line_error(capsys, [*base, "--model", "bert-tinny"], "unknown preset 'bert-tinny'",
                   "did you mean 'bert-tiny'")
    one_line_error(capsys, [*base, "--model", "bert-tiny", "--targets", "mlmm:1"],
                   "unknown target 'mlmm'", "did you mean 'mlm'")
    one_line_error(capsys, [*base, "--model", files / "enc.json"], "unknown encoder 'lstmm'",
                   "did you mean 'lstm'")
    one_line_error(capsys, [*base, "--model", files / "key.json"], "hiden_size: unknown key",
                   "did you mean 'hidden_size'")
    one_line_error(capsys, [*base, "--model", files / "target.json"], "unknown target 'spp'")
    one_line_error(capsys, [*base, "--model", "bert-tiny", "--schedule", "cosin"],
                   "invalid choice: 'cosin'")
    one_line_error(capsys, [*base, "--model", "bert-tiny", "--steps", "ten"], "--steps")


def test_finetune_mistakes(files, capsys):
    base = ["finetune", "--train", files / "train.tsv", "--dev", files / "dev.tsv",
            "--out", files / "ft", "--vocab", files / "vocab.txt", "--tokenizer", "char"]
    one_line_error(capsys, [*base, "--task", "clasify", "--model", "bert-tiny"],
                   "unknown task 'clasify'", "did you mean 'classify'")
    classify = [*base, "--task", "classify"]
    one_line_error(capsys, [*classify, "--model", "bert-tinny"], "did you mean 'bert-tiny'")
    one_line_error(capsys, [*classify, "--model", files / "enc.json"], "unknown encoder 'lstmm'")
    one_line_error(capsys, [*classify, "--model", files / "key.json"], "hiden_size: unknown key")
    one_line_error(capsys, [*classify, "--model", "bert-tiny", "--pooling", "fist"],
                   "did you mean 'first'")
    one_line_error(capsys, [*classify, "--model", "bert-tiny", "--device", "cdua"],
                   "did you mean 'cuda'")
    one_line_error(capsys, [*classify, "--model", "bert-tiny", "--tokenizer", "chr"],
                   "unknown tokenizer 'chr'", "did you mean 'char'")
    one_line_error(capsys, [*classify], "--init CKPT", "--model PRESET")
    assert not (files / "ft").exists()


def test_other_commands(files, capsys):
    one_line_error(capsys, ["pretrian"], "unknown command 'pretrian'", "did you mean 'pretrain'")
    one_line_error(capsys, ["vocab", "--corpus", files / "train.tsv", "--tokenizer", "wordpeice",
                            "--size", "10", "--out", files / "v.txt"], "invalid choice: 'wordpeice'")
    one_line_error(capsys, ["preprocess", "--corpus", SAMPLES / "book_review" / "corpus.txt",
                            "--processor", "mlmm", "--tokenizer", "char", "--vocab",
                            files / "vocab.txt", "--seq-length", "32", "--out", files / "s"],
                   "invalid choice: 'mlmm'")
    one_line_error(capsys, ["predict", "--model", files, "--input", files / "dev.tsv",
                            "--out", files / "p.tsv"], "not a fine-tuned model directory")
    one_line_error(capsys, ["predict", "--model", files, "--input", files / "dev.tsv",
                            "--out", files / "p.tsv", "--device", "gpu"], "--device 'gpu'")
    one_line_error(capsys, ["convert", "--from", "hff", "--to", "ours", "--input", files,
                            "--out", files / "c"], "invalid choice: 'hff'")


def test_cuda_without_a_gpu_is_one_line(files, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    one_line_error(capsys, ["finetune", "--task", "classify", "--train", files / "train.tsv",
                            "--dev", files / "dev.tsv", "--out", files / "ft", "--model", "bert-tiny",
                            "--vocab", files / "vocab.txt", "--tokenizer", "char",
                            "--device", "cuda", "--quiet"], "PyTorch sees no CUDA GPU")
