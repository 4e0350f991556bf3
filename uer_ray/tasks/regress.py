"""``regress``: regression of a real-valued ``label`` on ``text_a`` alone or on a pair when
the training file has a ``text_b`` column (as STS-B does); mean squared error loss; dev metric
Pearson's r."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from uer_ray.errors import InputError
from uer_ray.tasks.base import TASKS, SentenceTask
from uer_ray.tasks.heads import SequenceHead
from uer_ray.tasks.metrics import regression_metrics
from uer_ray.tasks.readers import LabelMap, Row, read_tsv


@TASKS.register("regress")
class RegressTask(SentenceTask):
    """Regression: ``label`` is a real number, on ``text_a`` alone or on a pair when the training
    file has a ``text_b`` column (as STS-B does); mean squared error loss; the dev metric is
    Pearson's r."""

    select_metric = "pearson"
    card_task_type = "text-classification"
    exact_test = False

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

    def units(self, examples: Sequence[dict], predictions: Sequence,
              labels: LabelMap | None) -> np.ndarray:
        return np.array([[e["label"], float(p)] for e, p in zip(examples, predictions, strict=True)])

    def metric_from_units(self, units: np.ndarray) -> np.ndarray:
        x, y = units[..., 0], units[..., 1]
        x = x - x.mean(-1, keepdims=True)
        y = y - y.mean(-1, keepdims=True)
        den = np.sqrt((x * x).sum(-1) * (y * y).sum(-1))
        return np.divide((x * y).sum(-1), den, out=np.zeros_like(den), where=den > 0)
