"""``tag``: sequence labelling — NER with BIO tags, as in the MSRA NER files — columns
``text_a`` (space-separated tokens, one per character for Chinese) and ``label`` (one
space-separated tag per token). Each token maps to one vocabulary id (unknown ones to [UNK]),
without [CLS]/[SEP], so position t of the input is token t of the sentence. Tokens beyond
``seq_length`` are not seen by the model; they are predicted ``O`` and still counted by the
metrics, so truncation never flatters the score. Metrics are entity-level, as conlleval counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from uer_ray.errors import InputError
from uer_ray.tasks.base import TASKS, Task
from uer_ray.tasks.heads import TagHead
from uer_ray.tasks.metrics import entity_metrics, entity_spans
from uer_ray.tasks.readers import LabelMap, Row


def token_id(tokenizer: Any, token: str) -> int:
    """The id of one pre-split token: as written, else lower-cased, else [UNK]."""
    for form in (token, token.lower()):
        i = tokenizer.token_to_id(form)
        if i is not None and i != tokenizer.unk_id:
            return i
    return tokenizer.unk_id


@TASKS.register("tag")
class TagTask(Task):
    """Sequence labelling with a per-token softmax or a CRF; dev metric: entity F1."""

    select_metric = "f1"
    card_task_type = "token-classification"
    output = "sequence"
    takes_crf = True

    def build_labels(self, rows: Sequence[Row], path: str) -> LabelMap:
        tags = [t for r in rows for t in r.cells["label"].split()]
        return LabelMap.build(tags, first="O")

    def encode(self, rows: Sequence[Row], path: str, tokenizer: Any, labels: LabelMap | None,
               seq_length: int) -> list[dict]:
        cache: dict[str, int] = {}
        out = []
        for row in rows:
            tokens = row.cells["text_a"].split()
            if not tokens:
                raise InputError("text_a has no tokens", path, row.line)
            ids = []
            for tok in tokens[:seq_length]:
                if tok not in cache:
                    cache[tok] = token_id(tokenizer, tok)
                ids.append(cache[tok])
            example = {"input_ids": ids, "segment_ids": [1] * len(ids), "line": row.line,
                       "label": None, "length": len(tokens)}
            if "label" in row.cells:
                tags = row.cells["label"].split()
                if len(tags) != len(tokens):
                    raise InputError(
                        f"text_a has {len(tokens)} tokens but label has {len(tags)} tags "
                        "(one tag per space-separated token)",
                        path,
                        row.line,
                    )
                example["tags"] = tags
                example["label"] = [labels.id(t, path, row.line) for t in tags[:seq_length]]
            out.append(example)
        return out

    def build_head(self, hidden_size: int, num_labels: int, pooling: str, crf: bool,
                   dropout: float = 0.1) -> nn.Module:
        return TagHead(hidden_size, num_labels, crf=crf, dropout=dropout)

    def loss(self, head: nn.Module, output: torch.Tensor, batch: dict) -> torch.Tensor:
        mask = batch["segment_ids"] != 0
        if head.crf is not None:
            return head.crf.nll(output.float(), batch["label"], mask)
        return F.cross_entropy(output.flatten(0, 1), batch["label"].flatten(), ignore_index=-100)

    def loss_count(self, head: nn.Module, batch: dict) -> int:
        # A CRF's loss is a mean over sequences; token cross-entropy a mean over labelled tokens.
        if head.crf is not None:
            return int(batch["input_ids"].size(0))
        return int((batch["label"] != -100).sum())

    def predict(self, head: nn.Module, output: torch.Tensor, batch: dict) -> list:
        mask = batch["segment_ids"] != 0
        if head.crf is not None:
            return head.crf.decode(output.float(), mask)
        best = output.argmax(-1).tolist()
        return [row[:n] for row, n in zip(best, mask.sum(1).tolist(), strict=True)]

    def _full_tags(self, example: dict, prediction: list[int], labels: LabelMap) -> list[str]:
        tags = [labels.name(i) for i in prediction]
        return tags + ["O"] * (example["length"] - len(tags))

    def metrics(self, examples: Sequence[dict], predictions: Sequence, labels: LabelMap | None) -> dict:
        pred = [self._full_tags(e, p, labels) for e, p in zip(examples, predictions, strict=True)]
        return entity_metrics([e["tags"] for e in examples], pred)

    def units(self, examples: Sequence[dict], predictions: Sequence,
              labels: LabelMap | None) -> np.ndarray:
        """Per sentence: entities right, predicted, gold (entity F1 from the sums)."""
        rows = []
        for e, p in zip(examples, predictions, strict=True):
            gold, got = set(entity_spans(e["tags"])), set(entity_spans(self._full_tags(e, p, labels)))
            rows.append([len(gold & got), len(got), len(gold)])
        return np.array(rows, dtype=float)

    def metric_from_units(self, units: np.ndarray) -> np.ndarray:
        s = units.sum(-2)  # (B, 3)
        correct, predicted, gold = s[..., 0], s[..., 1], s[..., 2]
        precision = np.divide(correct, predicted, out=np.zeros_like(correct), where=predicted > 0)
        recall = np.divide(correct, gold, out=np.zeros_like(correct), where=gold > 0)
        total = precision + recall
        return np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)

    def output_header(self, labels: LabelMap | None, probs: bool) -> list[str]:
        return ["label"]

    def output_row(self, example: dict, prediction: Any, labels: LabelMap | None, probs: bool) -> list[str]:
        return [" ".join(self._full_tags(example, prediction, labels))]
