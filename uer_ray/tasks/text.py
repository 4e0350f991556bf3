"""Sentence-level tasks (UER paper §3.3): ``classify`` (one text), ``pair`` (two texts),
``dbqa`` (question/answer pairs grouped by ``qid``, ranked by the probability of label 1) and
``regress`` (a real-valued score).

Inputs are built as in BERT: ``[CLS] a [SEP]`` with segment 1, then ``b [SEP]`` with segment 2;
the longer text is cut first when the pair does not fit ``seq_length``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from uer_ray.errors import InputError
from uer_ray.tasks.base import TASKS, Task
from uer_ray.tasks.heads import SequenceHead
from uer_ray.tasks.metrics import classification_metrics, ranking_metrics, regression_metrics
from uer_ray.tasks.readers import LabelMap, Row, read_tsv


def _truncate_pair(a: list[int], b: list[int], budget: int) -> tuple[list[int], list[int]]:
    """Cut the longer of ``a`` and ``b`` (from the end) until both fit in ``budget`` tokens."""
    la, lb = len(a), len(b)
    while la + lb > budget:
        if la >= lb:
            la -= 1
        else:
            lb -= 1
    return a[:la], b[:lb]


def build_inputs(tokenizer: Any, ids_a: list[int], ids_b: list[int] | None, seq_length: int) -> tuple[list[int], list[int]]:
    """``[CLS] a [SEP] (b [SEP])`` and its segment ids, at most ``seq_length`` long."""
    if ids_b is None:
        a = ids_a[: seq_length - 2]
        return [tokenizer.cls_id, *a, tokenizer.sep_id], [1] * (len(a) + 2)
    a, b = _truncate_pair(ids_a, ids_b, seq_length - 3)
    ids = [tokenizer.cls_id, *a, tokenizer.sep_id, *b, tokenizer.sep_id]
    return ids, [1] * (len(a) + 2) + [2] * (len(b) + 1)


class SentenceTask(Task):
    """Shared by the sentence-level tasks: tokenise, build inputs, a pooled head."""

    def label_value(self, text: str, labels: LabelMap | None, path: str, line: int) -> Any:
        return labels.id(text, path, line)

    def encode(self, rows: Sequence[Row], path: str, tokenizer: Any, labels: LabelMap | None,
               seq_length: int) -> list[dict]:
        if seq_length < 2 + len(self.text_columns):
            raise InputError(f"--seq-length {seq_length} leaves no room for text", path)
        texts = {c: tokenizer.encode_batch([r.cells[c] for r in rows]) for c in self.text_columns}
        out = []
        for i, row in enumerate(rows):
            b = texts["text_b"][i] if "text_b" in texts else None
            ids, segs = build_inputs(tokenizer, texts["text_a"][i], b, seq_length)
            example = {"input_ids": ids, "segment_ids": segs, "line": row.line, "label": None}
            if "label" in row.cells:
                example["label"] = self.label_value(row.cells["label"], labels, path, row.line)
            if "qid" in row.cells:
                example["qid"] = row.cells["qid"]
            out.append(example)
        return out

    def build_head(self, hidden_size: int, num_labels: int, pooling: str, crf: bool,
                   dropout: float = 0.1) -> nn.Module:
        return SequenceHead(hidden_size, num_labels, pooling, dropout=dropout)

    def loss(self, head: nn.Module, output: torch.Tensor, batch: dict) -> torch.Tensor:
        return F.cross_entropy(output, batch["label"])

    def predict(self, head: nn.Module, output: torch.Tensor, batch: dict) -> list:
        return output.float().softmax(-1).tolist()

    def metrics(self, examples: Sequence[dict], predictions: Sequence, labels: LabelMap | None) -> dict:
        pred = [max(range(len(p)), key=p.__getitem__) for p in predictions]
        return classification_metrics([e["label"] for e in examples], pred, labels.labels)

    def output_header(self, labels: LabelMap | None, probs: bool) -> list[str]:
        return ["label"] + ([f"prob_{name}" for name in labels.labels] if probs else [])

    def output_row(self, example: dict, prediction: Any, labels: LabelMap | None, probs: bool) -> list[str]:
        best = max(range(len(prediction)), key=prediction.__getitem__)
        return [labels.name(best)] + ([f"{p:.6f}" for p in prediction] if probs else [])


@TASKS.register("classify")
class ClassifyTask(SentenceTask):
    """Single-sentence classification: columns ``label``, ``text_a``."""

    name = "classify"


@TASKS.register("pair")
class PairTask(SentenceTask):
    """Sentence-pair classification (entailment, paraphrase): ``label``, ``text_a``, ``text_b``."""

    name = "pair"
    text_columns = ("text_a", "text_b")


@TASKS.register("dbqa")
class DbqaTask(SentenceTask):
    """Answer selection: ``qid``, ``text_a`` (question), ``text_b`` (candidate answer), ``label``
    (1 = answers the question, 0 = not). Candidates of a question are ranked by P(label 1);
    the dev metric is MAP."""

    name = "dbqa"
    text_columns = ("text_a", "text_b")
    extra_columns = ("qid",)
    select_metric = "map"

    def build_labels(self, rows: Sequence[Row], path: str) -> LabelMap:
        for r in rows:
            if r.cells["label"] not in ("0", "1"):
                raise InputError(f"dbqa labels are 0 or 1, found {r.cells['label']!r}", path, r.line)
        return LabelMap(["0", "1"])

    def metrics(self, examples: Sequence[dict], predictions: Sequence, labels: LabelMap | None) -> dict:
        scores = [p[1] for p in predictions]
        gold = [e["label"] for e in examples]
        ranking = ranking_metrics([e["qid"] for e in examples], gold, scores)
        return {**ranking, **super().metrics(examples, predictions, labels)}

    def output_header(self, labels: LabelMap | None, probs: bool) -> list[str]:
        return ["qid", "label", "score"]

    def output_row(self, example: dict, prediction: Any, labels: LabelMap | None, probs: bool) -> list[str]:
        return [example["qid"], "1" if prediction[1] > prediction[0] else "0", f"{prediction[1]:.6f}"]


@TASKS.register("regress")
class RegressTask(SentenceTask):
    """Regression: ``label`` is a real number, on ``text_a`` alone or on a pair when the training
    file has a ``text_b`` column (as STS-B does); mean squared error loss; the dev metric is
    Pearson's r."""

    name = "regress"
    select_metric = "pearson"

    def read(self, path: str, labelled: bool = True) -> list[Row]:
        required = self.text_columns + (("label",) if labelled else ())
        return read_tsv(path, required, optional=("text_b",) + (() if labelled else ("label",)))

    def adapt_to(self, rows: Sequence[Row]) -> None:
        if "text_b" in rows[0].cells:
            self.text_columns = ("text_a", "text_b")

    def build_labels(self, rows: Sequence[Row], path: str) -> None:
        return None

    def label_value(self, text: str, labels: LabelMap | None, path: str, line: int) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise InputError(f"regression label {text!r} is not a finite number", path, line)
        return value

    def build_head(self, hidden_size: int, num_labels: int, pooling: str, crf: bool,
                   dropout: float = 0.1) -> nn.Module:
        return SequenceHead(hidden_size, 1, pooling, dropout=dropout)

    def loss(self, head: nn.Module, output: torch.Tensor, batch: dict) -> torch.Tensor:
        return F.mse_loss(output.squeeze(1), batch["label"])

    def predict(self, head: nn.Module, output: torch.Tensor, batch: dict) -> list:
        return output.float().squeeze(1).tolist()

    def metrics(self, examples: Sequence[dict], predictions: Sequence, labels: LabelMap | None) -> dict:
        return regression_metrics([e["label"] for e in examples], list(predictions))

    def output_header(self, labels: LabelMap | None, probs: bool) -> list[str]:
        return ["score"]

    def output_row(self, example: dict, prediction: Any, labels: LabelMap | None, probs: bool) -> list[str]:
        return [f"{prediction:.6f}"]
