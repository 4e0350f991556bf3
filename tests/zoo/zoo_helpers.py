"""Helpers for the zoo tests, importable as ``zoo_helpers``: tiny real checkpoints and result
records in the documented shape (docs/contracts.md, "The result record")."""

from __future__ import annotations

import json
import time
from pathlib import Path

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CHARS = list("书的这本写得内容故事人物作者读完觉得有点非常一般好差甲乙丙丁戊问")
TINY_BERT = {
    "embedding": ["word", "pos", "seg"], "encoder": "transformer", "targets": {"mlm": 1.0, "sp": 1.0},
    "emb_size": 32, "hidden_size": 32, "layers": 1, "heads": 2, "ffn_size": 64,
    "max_seq_length": 64, "dropout": 0.0,
}


def char_vocab(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "vocab.txt"
    path.write_text("\n".join(SPECIALS + CHARS) + "\n", encoding="utf-8")
    return path


def tiny_checkpoint(folder: Path, seed: int = 0, config: dict | None = None):
    """A real checkpoint directory (config, safetensors weights, char tokenizer); returns the model."""
    import torch

    from uer_ray.models import build_model, save_pretrained
    from uer_ray.tokenizers import build_tokenizer

    tok = build_tokenizer("char", vocab=char_vocab(folder.parent / f".vocab-{folder.name}"))
    torch.manual_seed(seed)
    model = build_model(config or TINY_BERT, vocab_size=tok.vocab_size)
    save_pretrained(model, folder, tokenizer=tok)
    model.tokenizer = tok
    return model


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def pretrain_record(out: Path, *, shards: str = "/data/shards/cluecorpussmall", loss: float = 3.25,
                    steps: int = 100, parent: dict | None = None, preset: str | None = "bert-tiny") -> dict:
    """Write OUT/metrics.json for the checkpoint OUT/final (as pretrain does)."""
    ckpt = out / "final"
    config = json.loads((ckpt / "config.json").read_text())
    record = {
        "format": "uer_ray.result/1", "stage": "pretrain", "name": "word+pos+seg/transformer/mlm1+sp1",
        "model": {"embedding": config["embedding"], "encoder": [config["encoder"]],
                  "targets": config["targets"], "parameters": 123456, "preset": preset, "config": config},
        "data": {"pretrain": {"shards": shards, "manifest_sha256": "ab" * 32, "processor": "bert",
                              "corpus_sha256": ["cd" * 32], "instances": 800, "tokens": 51200}},
        "parent": parent,
        "options": {"model": preset, "data": shards, "out": str(out), "steps": steps, "batch_size": 8,
                    "lr": 1e-4, "targets": None, "gpu": False},
        "results": {"steps": steps, "epochs": 1, "loss_first": 10.1, "loss_last": loss,
                    "final": {"mlm/loss": loss, "sp/accuracy": 0.5}, "tokens_seen": 51200,
                    "tokens_per_s": 1000.0, "effective_batch_size": 8, "workers": 1, "extended": None},
        "metrics": [{"task": "pretrain", "dataset": shards.rstrip("/").rsplit("/", 1)[-1], "split": "train",
                     "metric": "mlm/loss", "value": loss}],
        "provenance": {}, "checkpoint": str(ckpt), "seconds": 12.5, "device": "cpu",
        "package": {"name": "uer_ray", "version": "0.1.0"}, "created": _now(),
    }
    (out / "metrics.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return record


def finetune_record(out: Path, *, dataset: str = "book_review", task: str = "classify",
                    dev: dict | None = None, test: dict | None = None, parent: dict | None = None,
                    provenance: dict | None = None) -> dict:
    """Write OUT/metrics.json for the fine-tuned checkpoint OUT (as finetune does)."""
    dev = dev or {"accuracy": 0.8125, "macro_f1": 0.8}
    config = json.loads((out / "config.json").read_text())
    rows = [{"task": task, "dataset": dataset, "split": split, "metric": k, "value": v}
            for split, m in (("dev", dev), ("test", test or {})) for k, v in m.items()]
    record = {
        "format": "uer_ray.result/1", "stage": "finetune", "name": f"{task}/{dataset}",
        "model": {"embedding": config["embedding"], "encoder": [config["encoder"]],
                  "targets": config["targets"], "parameters": 123456, "preset": None, "config": config},
        "data": {"finetune": {"dataset": dataset, "task": task,
                               "files": {"train": {"path": "/d/train.tsv", "sha256": "ef" * 32, "rows": 160},
                                         "dev": {"path": "/d/dev.tsv", "sha256": "01" * 32, "rows": 40}}}},
        "parent": parent,
        "options": {"task": task, "train": "/d/train.tsv", "dev": "/d/dev.tsv", "out": str(out), "epochs": 2},
        "results": {"task": task, "select_metric": "accuracy", "best_epoch": 2, "epochs_run": 2,
                    "stopped_early": False, "dev": dev, "test": test, "history": [],
                    "examples": {"train": 160, "dev": 40}, "labels": ["0", "1"], "pooling": "first",
                    "seq_length": 64, "freeze": False, "crf": False, "workers": 0, "seconds_per_epoch": 1.0},
        "metrics": rows, "provenance": provenance or {}, "checkpoint": str(out), "seconds": 3.0,
        "device": "cpu", "package": {"name": "uer_ray", "version": "0.1.0"}, "created": _now(),
    }
    (out / "metrics.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return record


def pretrained(tmp: Path, name: str = "pt", seed: int = 0, **kw) -> Path:
    """A pretrain --out folder: OUT/final checkpoint + OUT/metrics.json. Returns OUT."""
    out = tmp / name
    tiny_checkpoint(out / "final", seed=seed)
    pretrain_record(out, **kw)
    return out


def finetuned(tmp: Path, parent_ckpt: Path | None, name: str = "ft", seed: int = 1,
              parent_zoo: str | None = None, **kw) -> Path:
    """A finetune --out folder whose record names ``parent_ckpt`` (and ``parent_zoo``)."""
    out = tmp / name
    tiny_checkpoint(out, seed=seed)
    (out / "task.json").write_text(json.dumps({"task": "classify", "labels": ["0", "1"]}))
    parent = None
    if parent_ckpt is not None or parent_zoo:
        parent = {"checkpoint": str(parent_ckpt) if parent_ckpt else None, "zoo": parent_zoo,
                  "relation": "fine-tuned from", "stage": "pretrain"}
    finetune_record(out, parent=parent, **kw)
    return out
