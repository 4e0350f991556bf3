"""The ``Task`` interface, the ``TASKS`` registry (one registered task per file of this folder,
named after it) and ``SentenceTask``, the shared base of the sentence-level tasks.

A task knows its TSV columns, how to turn rows into model inputs, which head to put on
``Model.encode``, its loss, how to turn head outputs into predictions, its metrics and which
metric picks the best model on dev (higher is better for all of them), and the facts the rest
of the package reads off it (the model card's task type, how the report bootstraps it, whether
it takes a CRF or ``--pooling``). Tasks are stateless: the label map is built from the training
file and passed in.

An encoded example is a plain dict (so it pickles cheaply to Ray workers):
``input_ids`` and ``segment_ids`` (lists of ints; 0 segment = padding), ``label`` (int, float,
list of ints, or None when the file has no label column), ``line`` (its line in the file), plus
what the task's metrics need (``qid``, ``tags``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from uer_ray.errors import InputError
from uer_ray.registry import Registry
from uer_ray.tasks.heads import FinetuneModel, SequenceHead
from uer_ray.tasks.metrics import classification_metrics
from uer_ray.tasks.readers import LabelMap, Row, read_tsv


class Task:
    """Base class; subclasses register with ``@TASKS.register(name)`` and declare
    (docs/extending.md):

    - ``card_task_type``: the Hugging Face pipeline tag of a model fine-tuned on it;
    - ``output``: ``pooled`` (one vector per example: ``--pooling`` applies) or ``sequence``
      (one output per token);
    - ``takes_crf``: ``--crf`` applies;
    - ``metric_choices``: the metrics ``--metric`` may pick the best epoch by (empty: only
      ``select_metric``); ``configure(options)`` applies the choice recorded in ``task.json``;
    - ``generative``: predictions are generated text (``generate_predictions``), not a head's
      outputs; ``finetune_model(model, head)`` and ``forward(net, batch)`` say how the model
      trains (default: ``FinetuneModel``, a head on ``Model.encode``);
    - ``units(examples, predictions, labels)`` and ``metric_from_units(units)``: per-example
      statistics whose resampling gives the dev/test metric, for the report's paired
      bootstrap (``units`` returning None: no paired test); ``exact_test``: the first unit
      column is 1/0 correct, so McNemar's exact test applies too;
    - ``default_pooling``: what ``--pooling auto`` means for it (None: the encoder's choice);
      ``settle(best_dev)``: what training fixes for test and ``predict`` (a tuned threshold).
    """

    name: ClassVar[str] = ""
    """set by the registry"""
    text_columns: tuple[str, ...] = ("text_a",)
    extra_columns: ClassVar[tuple[str, ...]] = ()
    select_metric: ClassVar[str] = "accuracy"
    card_task_type: ClassVar[str] = ""
    output: ClassVar[Literal["pooled", "sequence"]] = "pooled"
    takes_crf: ClassVar[bool] = False
    exact_test: ClassVar[bool] = False
    metric_choices: ClassVar[tuple[str, ...]] = ()
    generative: ClassVar[bool] = False
    option_fields: ClassVar[tuple[str, ...]] = ()
    """``FinetuneOptions`` fields this task reads (``task.json`` records them under ``options``
    for ``configure``; other tasks refuse them): mrc's ``doc_stride``, ..."""
    default_pooling: ClassVar[str | None] = None
    """the pooling ``--pooling auto`` means for this task (None: what the encoder declares)"""

    def configure(self, options: dict) -> None:
        """Apply the task-specific settings ``task.json`` records (``TaskSettings.options``):
        ``metric``, the metric that picks the best epoch, and what a task adds."""
        if options.get("metric"):
            self.select_metric = options["metric"]

    def settle(self, best_dev: dict) -> dict:
        """After training, before test: what the best epoch's dev metrics fix (multi_label's
        tuned threshold). The task applies it and returns the options ``task.json`` adds."""
        return {}

    @classmethod
    def selectable_metrics(cls) -> tuple[str, ...]:
        """What ``--metric`` may choose (the first is the default)."""
        return cls.metric_choices or (cls.select_metric,)

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

    def finetune_model(self, model: nn.Module, head: nn.Module) -> nn.Module:
        """``model`` (a pre-trained ``Model``) joined with ``head`` for fine-tuning; it has
        ``model``, ``head`` and ``freeze_encoder()``."""
        return FinetuneModel(model, head)

    # -- training and evaluation ----------------------------------------------------------
    def forward(self, net: nn.Module, batch: dict) -> torch.Tensor:
        """The output ``loss`` and ``predict`` read: ``net`` (the fine-tuning model, or its
        DDP wrapper) on ``batch``."""
        return net(batch["input_ids"], batch["segment_ids"])

    def generate_predictions(self, ft: nn.Module, examples: Sequence[dict], *, batch_size: int,
                             runtime: Any, progress: bool, desc: str) -> list:
        """Per-example predictions of a ``generative`` task (texts the model writes)."""
        raise NotImplementedError(f"task {self.name!r} does not generate")

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

    # -- the report's paired comparisons ----------------------------------------------------
    def units(self, examples: Sequence[dict], predictions: Sequence,
              labels: LabelMap | None) -> np.ndarray | None:
        """(n, k) per-example statistics whose column sums give the metric (None: no paired
        test for this task)."""
        return None

    def metric_from_units(self, units: np.ndarray) -> np.ndarray:
        """The metric from resampled units: ``(B, n, k)`` rows -> ``(B,)`` values."""
        raise NotImplementedError(f"task {self.name!r} has no paired metric")

    # -- prediction files -----------------------------------------------------------------
    def output_header(self, labels: LabelMap | None, probs: bool) -> list[str]:
        raise NotImplementedError

    def output_row(self, example: dict, prediction: Any, labels: LabelMap | None, probs: bool) -> list[str]:
        raise NotImplementedError

    def write_predictions(self, f: Any, examples: Sequence[dict], predictions: Sequence,
                          labels: LabelMap | None, probs: bool) -> int:
        """Write the prediction file to the text stream ``f``; returns how many records it
        holds. Default: a TSV, ``output_header`` then one ``output_row`` per example (mrc writes
        ``{question id: answer}`` JSON instead)."""
        f.write("\t".join(self.output_header(labels, probs)) + "\n")
        for example, pred in zip(examples, predictions, strict=True):
            f.write("\t".join(self.output_row(example, pred, labels, probs)) + "\n")
        return len(examples)


TASKS: Registry[type[Task]] = Registry("task", package="uer_ray.tasks", base=Task)


def get_task(name: str) -> Task:
    """An instance of the task registered as ``name`` (with a did-you-mean error otherwise)."""
    return TASKS.get(name)()


# -- sentence-level tasks ---------------------------------------------------------------------
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
    """Shared by the sentence-level tasks: inputs built as in BERT (``[CLS] a [SEP]`` with segment
    1, then ``b [SEP]`` with segment 2; the longer text is cut first when the pair does not fit
    ``seq_length``), a pooled head, softmax over the labels, accuracy as the paired unit."""

    card_task_type = "text-classification"
    exact_test = True

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

    def units(self, examples: Sequence[dict], predictions: Sequence,
              labels: LabelMap | None) -> np.ndarray:
        return np.array([[float(int(np.argmax(p)) == e["label"])]
                         for e, p in zip(examples, predictions, strict=True)])

    def metric_from_units(self, units: np.ndarray) -> np.ndarray:
        return units[..., 0].mean(-1)
