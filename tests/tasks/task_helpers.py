"""Helpers for the fine-tuning tests, importable as ``task_helpers`` (a folder's conftest.py
cannot be imported reliably: see tests/uer_testing.py)."""

from __future__ import annotations

from pathlib import Path

from uer_ray.cli import main

TINY_TRANSFORMER = {
    "embedding": ["word", "pos", "seg"], "encoder": "transformer", "targets": {"mlm": 1.0},
    "emb_size": 32, "hidden_size": 32, "layers": 1, "heads": 2, "ffn_size": 64,
    "max_seq_length": 128, "dropout": 0.0,
}
TINY_LSTM = {
    "embedding": ["word"], "encoder": "lstm", "targets": {"lm": 1.0},
    "emb_size": 32, "hidden_size": 32, "layers": 1, "max_seq_length": 128, "dropout": 0.0,
}


def write_tsv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.write_text("\n".join(["\t".join(header)] + ["\t".join(map(str, r)) for r in rows]) + "\n",
                    encoding="utf-8")
    return path


def run_cli(*argv) -> int:
    return main([str(a) for a in argv])




def tiny_finetune_error(capsys, out: Path, task: str, train, dev, tiny_configs, vocab, *extra) -> str:
    """The one-line error of a ``finetune`` of the tiny transformer (character vocabulary) that
    must refuse its input: exit code 2 and no output folder."""
    rc = run_cli("finetune", "--task", task, "--train", train, "--dev", dev, "--out", out,
                 "--model", tiny_configs["transformer"], "--vocab", vocab, "--tokenizer", "char",
                 "--epochs", "1", "--quiet", *extra)
    assert rc == 2 and not Path(out).exists()
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err
