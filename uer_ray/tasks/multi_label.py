"""``multi_label``: multi-label classification — columns ``label`` (the example's labels,
comma-separated; an empty cell means the example has none) and ``text_a``.

One sigmoid output per label on a pooled head (binary cross-entropy). A label is predicted when
its probability reaches the decision threshold: ``--threshold`` when given, else the threshold
that maximises micro F1 on dev (tuned at every dev evaluation; the best epoch's value is recorded
in ``task.json`` and used for test and ``predict``). Metrics: micro F1 (the default ``--metric``),
macro F1, micro precision/recall, exact-match (subset) accuracy and per-label
precision/recall/F1/support.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from uer_ray.errors import InputError, OptionsError
from uer_ray.tasks.base import TASKS, SentenceTask
from uer_ray.tasks.heads import SequenceHead
from uer_ray.tasks.readers import LabelMap, Row


def split_labels(cell: str, path: str, line: int) -> list[str]:
    """The labels of one ``label`` cell: comma-separated, spaces around them ignored, an empty
    cell is no label; an empty name between commas is an error at ``path:line``."""
    if not cell.strip():
        return []
    names = [part.strip() for part in cell.split(",")]
    if not all(names):
        raise InputError(f"label {cell!r} has an empty name between commas (an example without "
                         "labels has an empty label cell)", path, line)
    return list(dict.fromkeys(names))


def tune_threshold(probs: np.ndarray, gold: np.ndarray) -> float:
    """The threshold t (predict a label when p >= t) that maximises micro F1 of ``probs``
    against ``gold`` (both (n, L)): every distinct probability is tried; the returned value lies
    halfway between the chosen probability and the next lower one, so that a close call on
    unseen data falls on the same side. Ties go to the highest threshold."""
    p, g = probs.ravel(), gold.ravel().astype(float)
    order = np.argsort(-p, kind="stable")
    p, g = p[order], g[order]
    tp = np.cumsum(g)  # predicting the first k+1 of the sorted list positive
    predicted = np.arange(1, len(p) + 1)
    f1 = 2 * tp / (predicted + g.sum())
    last = np.r_[p[1:] != p[:-1], True]  # only cut between distinct probabilities
    f1 = np.where(last, f1, -1.0)
    if g.sum() == 0 or f1.max() <= 0:
        return 0.5
    k = int(np.argmax(f1))
    below = p[k + 1] if k + 1 < len(p) else 0.0
    return float((p[k] + below) / 2)


def multilabel_metrics(gold: np.ndarray, predicted: np.ndarray, labels: Sequence[str]) -> dict:
    """Micro and macro F1 of 0/1 matrices (n, L), micro precision/recall, subset accuracy and
    the per-label precision/recall/F1/support (an F1 of 0 for a label never predicted nor
    present)."""
    gold, predicted = gold.astype(bool), predicted.astype(bool)
    tp = (gold & predicted).sum(0)
    fp = (~gold & predicted).sum(0)
    fn = (gold & ~predicted).sum(0)

    def prf(t: float, f_p: float, f_n: float) -> dict:
        p = t / (t + f_p) if t + f_p else 0.0
        r = t / (t + f_n) if t + f_n else 0.0
        return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}

    per_label = {name: {**prf(int(tp[i]), int(fp[i]), int(fn[i])), "support": int(gold[:, i].sum())}
                 for i, name in enumerate(labels)}
    micro = prf(int(tp.sum()), int(fp.sum()), int(fn.sum()))
    n = len(gold)
    return {
        "micro_f1": micro["f1"], "macro_f1": float(np.mean([v["f1"] for v in per_label.values()])),
        "micro_precision": micro["precision"], "micro_recall": micro["recall"],
        "subset_accuracy": float((gold == predicted).all(1).mean()) if n else 0.0,
        "count": n, "labels": list(labels), "per_label": per_label,
    }


@TASKS.register("multi_label")
class MultiLabelTask(SentenceTask):
    """Multi-label classification: ``label`` (comma-separated labels, empty for none),
    ``text_a``; sigmoid outputs, BCE loss; dev metric micro F1 at the tuned or given threshold."""

    select_metric = "micro_f1"
    metric_choices = ("micro_f1", "macro_f1")
    card_task_type = "text-classification"
    exact_test = False
    option_fields = ("threshold",)

    def __init__(self) -> None:
        self.threshold: float | None = None
        """the decision threshold; None: tuned on the examples ``metrics`` is given (dev)"""

    def configure(self, options: dict) -> None:
        super().configure(options)
        if options.get("threshold") is not None:
            t = float(options["threshold"])
            if not 0 < t < 1:
                raise OptionsError(f"--threshold is a probability in (0, 1), got {t}")
            self.threshold = t

    def settle(self, best_dev: dict) -> dict:
        """The threshold the best epoch used on dev, for test and ``predict``."""
        if self.threshold is None and "threshold" in best_dev:
            self.threshold = float(best_dev["threshold"])
        return {"threshold": self.threshold} if self.threshold is not None else {}

    # -- files ---------------------------------------------------------------------------
    def build_labels(self, rows: Sequence[Row], path: str) -> LabelMap:
        names = [n for r in rows for n in split_labels(r.cells["label"], path, r.line)]
        if not names:
            raise InputError("no labels: every label cell of the training file is empty", path)
        return LabelMap.build(names)

    def label_value(self, text: str, labels: LabelMap | None, path: str, line: int) -> tuple[int, ...]:
        # a tuple, not a list: batching.collate stacks tuples into (B, L) and pads lists as tags
        on = {labels.id(name, path, line) for name in split_labels(text, path, line)}
        return tuple(int(i in on) for i in range(len(labels)))

    # -- the model -------------------------------------------------------------------------
    def build_head(self, hidden_size: int, num_labels: int, pooling: str, crf: bool,
                   dropout: float = 0.1) -> nn.Module:
        return SequenceHead(hidden_size, num_labels, pooling, dropout=dropout)

    def loss(self, head: nn.Module, output: torch.Tensor, batch: dict) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(output, batch["label"].float())

    def predict(self, head: nn.Module, output: torch.Tensor, batch: dict) -> list:
        return output.float().sigmoid().tolist()

    # -- metrics ---------------------------------------------------------------------------
    def _decide(self, predictions: Sequence) -> np.ndarray:
        return np.asarray(predictions, dtype=float) >= (0.5 if self.threshold is None else self.threshold)

    def metrics(self, examples: Sequence[dict], predictions: Sequence, labels: LabelMap | None) -> dict:
        probs = np.asarray(predictions, dtype=float).reshape(len(examples), len(labels))
        gold = np.array([e["label"] for e in examples], dtype=float).reshape(probs.shape)
        tuned = self.threshold is None
        threshold = tune_threshold(probs, gold) if tuned else self.threshold
        out = multilabel_metrics(gold, probs >= threshold, labels.labels)
        return {**out, "threshold": threshold, "threshold_tuned": tuned}

    def units(self, examples: Sequence[dict], predictions: Sequence,
              labels: LabelMap | None) -> np.ndarray:
        """Per example and label: true positive, false positive, false negative (columns
        3l, 3l+1, 3l+2), whose sums give micro and macro F1."""
        gold = np.array([e["label"] for e in examples], dtype=bool)
        pred = self._decide(predictions)
        counts = np.stack([gold & pred, ~gold & pred, gold & ~pred], axis=-1)  # (n, L, 3)
        return counts.reshape(len(examples), -1).astype(float)

    def metric_from_units(self, units: np.ndarray) -> np.ndarray:
        s = units.sum(-2).reshape(*units.shape[:-2], -1, 3)  # (B, L, 3)
        if self.select_metric == "macro_f1":
            tp, fp, fn = s[..., 0], s[..., 1], s[..., 2]
            den = 2 * tp + fp + fn
            return np.divide(2 * tp, den, out=np.zeros_like(den), where=den > 0).mean(-1)
        tp, fp, fn = s[..., 0].sum(-1), s[..., 1].sum(-1), s[..., 2].sum(-1)
        den = 2 * tp + fp + fn
        return np.divide(2 * tp, den, out=np.zeros_like(den), where=den > 0)

    # -- prediction files -----------------------------------------------------------------
    def output_header(self, labels: LabelMap | None, probs: bool) -> list[str]:
        return ["label"] + ([f"prob_{name}" for name in labels.labels] if probs else [])

    def output_row(self, example: dict, prediction: Any, labels: LabelMap | None, probs: bool) -> list[str]:
        on = self._decide([prediction])[0]
        chosen = ",".join(labels.name(i) for i in range(len(labels)) if on[i])
        return [chosen] + ([f"{p:.6f}" for p in prediction] if probs else [])
