"""Batches of encoded examples: padded to the longest row of the batch, with examples of similar
length grouped together (on a CPU, an LSTM over a batch costs as much as its longest row, so
grouping by length makes an epoch several times faster without changing what is learned)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch

# Training batches are formed inside pools of this many batches, sorted by length, so the order
# stays random at the scale of an epoch while each batch holds similar lengths.
POOL_BATCHES = 50


def collate(examples: Sequence[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Examples -> ``input_ids``/``segment_ids`` (B,T) long, ``tgt_ids``/``tgt_segment_ids``
    (B,T2) when the examples have ``tgt_ids``, and ``label`` when present:
    (B,) long for classes, (B,) float for scores, (B,T) long for tags (padding -100), (B,k)
    long for a tuple of k positions (mrc's start and end).

    Examples whose ``input_ids`` is a list of token lists (one per choice: ``choice``) give
    (B,C,T) inputs, C the most choices in the batch, and ``choice_mask`` (B,C) bool, False for
    the padding choices (all padding tokens)."""
    if examples[0]["input_ids"] and isinstance(examples[0]["input_ids"][0], list):
        return _collate_choices(examples, pad_id)
    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    segs = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[i, :n] = torch.tensor(e["input_ids"], dtype=torch.long)
        segs[i, :n] = torch.tensor(e["segment_ids"], dtype=torch.long)
    batch = {"input_ids": ids, "segment_ids": segs}
    if "tgt_ids" in examples[0]:  # a sequence to write (text2text): tgt_segment_ids 0 at padding
        width = max(len(e["tgt_ids"]) for e in examples)
        tgt = torch.full((len(examples), width), pad_id, dtype=torch.long)
        tgt_segs = torch.zeros((len(examples), width), dtype=torch.long)
        for i, e in enumerate(examples):
            tgt[i, : len(e["tgt_ids"])] = torch.tensor(e["tgt_ids"], dtype=torch.long)
            tgt_segs[i, : len(e["tgt_ids"])] = 1
        batch["tgt_ids"], batch["tgt_segment_ids"] = tgt, tgt_segs
    first = examples[0].get("label")
    if first is None:
        return batch
    if isinstance(first, list):
        labels = torch.full((len(examples), width), -100, dtype=torch.long)
        for i, e in enumerate(examples):
            labels[i, : len(e["label"])] = torch.tensor(e["label"], dtype=torch.long)
        batch["label"] = labels
    elif isinstance(first, tuple):
        batch["label"] = torch.tensor([list(e["label"]) for e in examples], dtype=torch.long)
    elif isinstance(first, float):
        batch["label"] = torch.tensor([e["label"] for e in examples], dtype=torch.float)
    else:
        batch["label"] = torch.tensor([e["label"] for e in examples], dtype=torch.long)
    return batch


def _collate_choices(examples: Sequence[dict], pad_id: int) -> dict[str, torch.Tensor]:
    choices = max(len(e["input_ids"]) for e in examples)
    width = max(len(ids) for e in examples for ids in e["input_ids"])
    ids = torch.full((len(examples), choices, width), pad_id, dtype=torch.long)
    segs = torch.zeros((len(examples), choices, width), dtype=torch.long)
    mask = torch.zeros((len(examples), choices), dtype=torch.bool)
    for i, e in enumerate(examples):
        for c, (row, seg) in enumerate(zip(e["input_ids"], e["segment_ids"], strict=True)):
            ids[i, c, : len(row)] = torch.tensor(row, dtype=torch.long)
            segs[i, c, : len(seg)] = torch.tensor(seg, dtype=torch.long)
            mask[i, c] = True
    batch = {"input_ids": ids, "segment_ids": segs, "choice_mask": mask}
    if examples[0].get("label") is not None:
        batch["label"] = torch.tensor([e["label"] for e in examples], dtype=torch.long)
    return batch


def train_order(lengths: Sequence[int], batch_size: int, seed: int) -> list[list[int]]:
    """Index batches for one training epoch over examples of ``lengths`` tokens: shuffled, then
    length-sorted within pools of ``POOL_BATCHES`` batches, then the batches shuffled again.
    Same seed, same batches (the Ray workers rebuild the epoch's plan from the lengths alone)."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    pool = batch_size * POOL_BATCHES
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lengths.__getitem__)
        batches += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def eval_order(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Index batches for inference: sorted by length (predictions are put back in file order)."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    return [order[j : j + batch_size] for j in range(0, len(order), batch_size)]


def lengths_of(examples: Sequence[dict]) -> list[int]:
    """Token counts (the longest choice's for an example with several)."""
    return [max(map(len, e["input_ids"])) if e["input_ids"] and isinstance(e["input_ids"][0], list)
            else len(e["input_ids"]) for e in examples]
