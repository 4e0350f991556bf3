"""Tiny configs and batches shared by the model tests."""

from __future__ import annotations

import torch

VOCAB = 40
TGT_VOCAB = 30

TINY = {"emb_size": 16, "hidden_size": 16, "layers": 2, "heads": 2, "ffn_size": 32,
        "max_seq_length": 32, "dropout": 0.0}


def tiny(**overrides) -> dict:
    """A tiny BERT-like config dict with ``overrides`` applied."""
    cfg = {"embedding": ["word", "pos", "seg"], "encoder": "transformer",
           "targets": {"mlm": 1.0, "sp": 0.5}, **TINY}
    cfg.update(overrides)
    return cfg


def make_batch(b: int = 3, t: int = 12, seed: int = 0, pad_rows: bool = True) -> dict[str, torch.Tensor]:
    """Every label any target reads; row 1 is padded after 8 tokens, row 0 has two segments."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (b, t), generator=g)
    seg = torch.ones(b, t, dtype=torch.long)
    seg[0, t // 2 :] = 2
    if pad_rows:
        seg[1, 8:] = 0
        ids[1, 8:] = 0
    mlm = torch.full((b, t), -100)
    mlm[:, 1] = ids[:, 1]
    mlm[:, 3] = ids[:, 3]
    tgt = torch.randint(5, TGT_VOCAB, (b, 7), generator=g)
    tgt[2, 5:] = 0
    return {"input_ids": ids, "segment_ids": seg, "mlm_labels": mlm,
            "is_next": torch.tensor([1, 0, 1][:b] + [0] * max(0, b - 3)),
            "label": torch.arange(b) % 2, "tgt_ids": tgt}
