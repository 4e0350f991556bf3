"""Small search spaces for the tests: tiny models on slices of the bundled book-review samples
(they run on a fresh machine), written as YAML beside their data."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

SAMPLES = Path(__file__).resolve().parents[2] / "uer_ray" / "samples" / "book_review"

TINY_LSTM = {"embedding": ["word"], "encoder": "lstm", "targets": {"lm": 1.0}, "emb_size": 32,
             "hidden_size": 32, "layers": 1, "max_seq_length": 128, "dropout": 0.0,
             "embedding_options": {"layernorm": False, "init_std": 1.0}}
TINY_BERT = {"embedding": ["word", "pos", "seg"], "encoder": "transformer",
             "targets": {"mlm": 1.0}, "emb_size": 32, "hidden_size": 32, "layers": 1, "heads": 2,
             "ffn_size": 64, "max_seq_length": 128, "dropout": 0.0}


def head(src: Path, dst: Path, lines: int) -> Path:
    dst.write_text("".join(src.open(encoding="utf-8").readlines()[:lines]), encoding="utf-8")
    return dst


def data_files(folder: Path) -> dict[str, str]:
    """A task a tiny model learns in one epoch (label 1 when the text holds 好, 0 when 差, among
    filler characters of real reviews), so that a trial that cannot learn visibly trails."""
    import random

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    filler = [c for c in SAMPLES.joinpath("corpus.txt").read_text(encoding="utf-8")[:3000]
              if c.strip() and c not in "好差\t"]
    out = {}
    for split, n in (("train", 240), ("dev", 80), ("test", 80)):
        lines = ["label\ttext_a"]
        for _ in range(n):
            label = rng.randint(0, 1)
            chars = [rng.choice(filler) for _ in range(rng.randint(6, 20))]
            chars.insert(rng.randint(0, len(chars)), "好" if label else "差")
            lines.append(f"{label}\t{''.join(chars)}")
        path = folder / f"{split}.tsv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out[split] = str(path)
    return out


def base_space(folder: Path) -> dict:
    files = data_files(folder / "data")
    return {
        "name": "tiny",
        "task": "classify",
        "dataset": "book_review",
        "data": files,
        "vocabulary": {"tokenizer": "char", "size": 3000},
        "stage2": {"corpus": files["train"], "format": "cls", "seq_length": 64, "steps": 12,
                   "batch_size": 16, "lr": 3e-3, "workers": 1},
        "encoders": {
            "lstm": {"model": copy.deepcopy(TINY_LSTM), "lr": 1e-2, "targets": ["lm"]},
            "transformer": {"model": copy.deepcopy(TINY_BERT), "lr": 1e-3, "targets": ["none"]},
        },
        "targets": {"lm": {"lm": 1.0}, "mlm+cls": {"mlm": 1.0, "cls": {"uniform": [0.1, 1.0]}}},
        "finetune": {"epochs": 3, "batch_size": 16, "seq_length": 64},
        "budget": {"samples": 2, "searcher": "grid", "scheduler": "asha", "max_concurrent": 2,
                   "publish_top": 1},
    }


def write_space(folder: Path, space: dict, name: str = "space.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(space, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path
