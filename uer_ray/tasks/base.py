"""The ``Task`` interface and the ``TASKS`` registry.

A task knows its TSV columns, how to turn rows into model inputs, which head to put on
``Model.encode``, its loss, how to turn head outputs into predictions, its metrics and which
metric picks the best model on dev (higher is better for all of them). Tasks are stateless: the
label map is built from the training file and passed in.

An encoded example is a plain dict (so it pickles cheaply to Ray workers):
``input_ids`` and ``segment_ids`` (lists of ints; 0 segment = padding), ``label`` (int, float,
list of ints, or None when the file has no label column), ``line`` (its line in the file), plus
what the task's metrics need (``qid``, ``tags``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from uer_ray.registry import Registry
from uer_ray.tasks.readers import LabelMap, Row, read_tsv

TASKS: Registry[type[Task]] = Registry("task")


class Task:
    """Base class; subclasses register with ``@TASKS.register(name)``."""

    name: str = ""
    text_columns: tuple[str, ...] = ("text_a",)
    extra_columns: tuple[str, ...] = ()
    select_metric: str = "accuracy"

    # -- files ---------------------------------------------------------------------------
    def read(self, path: str, labelled: bool = True) -> list[Row]:
        """Rows of ``path``; with ``labelled`` the ``label`` column is required."""
        required = (*self.text_columns, *self.extra_columns) + (("label",) if labelled else ())
        return read_tsv(path, required, optional=() if labelled else ("label",))

    def adapt_to(self, rows: Sequence[Row]) -> None:
        """Settle optional columns from the training rows (``task.json`` records the result)."""

    def build_labels(self, rows: Sequence[Row], path: str) -> LabelMap | None:
        """The label map of the training rows (None for regression)."""
        return LabelMap.build([r.cells["label"] for r in rows])

    # -- model inputs -------------------------------------------------------------------
    def encode(self, rows: Sequence[Row], path: str, tokenizer: Any, labels: LabelMap | None,
               seq_length: int) -> list[dict]:
        raise NotImplementedError

    def build_head(self, hidden_size: int, num_labels: int, pooling: str, crf: bool,
                   dropout: float = 0.1) -> nn.Module:
        """The task's head; ``dropout`` is the model's own rate (its config's ``dropout``)."""
        raise NotImplementedError

    # -- training and evaluation ----------------------------------------------------------
    def loss(self, head: nn.Module, output: torch.Tensor, batch: dict) -> torch.Tensor:
        raise NotImplementedError

    def loss_count(self, head: nn.Module, batch: dict) -> int:
        """How many terms ``loss`` averages over in ``batch`` (rows; labelled tokens for tagging).
        Data-parallel workers weight their losses by it, so that the averaged gradient is the
        whole batch's."""
        return int(batch["input_ids"].size(0))

    def predict(self, head: nn.Module, output: torch.Tensor, batch: dict) -> list:
        """Per-example predictions of one batch (class probabilities, tag ids or a score)."""
        raise NotImplementedError

    def metrics(self, examples: Sequence[dict], predictions: Sequence, labels: LabelMap | None) -> dict:
        raise NotImplementedError

    # -- prediction files -----------------------------------------------------------------
    def output_header(self, labels: LabelMap | None, probs: bool) -> list[str]:
        raise NotImplementedError

    def output_row(self, example: dict, prediction: Any, labels: LabelMap | None, probs: bool) -> list[str]:
        raise NotImplementedError


def get_task(name: str) -> Task:
    """An instance of the task registered as ``name`` (with a did-you-mean error otherwise)."""
    import uer_ray.tasks.tagging  # noqa: F401  (registers tag)
    import uer_ray.tasks.text  # noqa: F401  (registers classify, pair, dbqa, regress)

    return TASKS.get(name)()
