"""``siamese``: sentence-pair models with two towers, as SBERT (Reimers and Gurevych 2019) and
UER-py's ``run_classifier_siamese`` — columns ``label``, ``text_a``, ``text_b``.

Each text is encoded alone (``[CLS] text [SEP]``, segment 1, at most ``seq_length`` tokens) and
pooled into a vector (``--pooling``, mean by default): u for ``text_a``, v for ``text_b``. The
towers share the pre-trained encoder (``--tower shared``) or ``text_b`` has its own copy
(``--tower separate``: the copy is saved in ``head.safetensors`` under ``head.tower_b.``).
``--siamese-objective`` says what is trained on (u, v):

- ``classify``: softmax over W·[u, v, |u−v|] (SBERT's classification objective); metric
  accuracy; ``predict`` writes the label (and its probabilities with ``--probs``);
- ``cosine``: cos(u, v) regressed on a real-valued ``label`` with mean squared error; metrics
  Spearman (the default ``--metric``) and Pearson; ``predict`` writes the cosine as ``score``;
- ``simcse``: unsupervised SimCSE (Gao et al. 2021): the training file needs ``text_a`` only
  (other columns are ignored); every sentence is encoded twice, with different dropout, and the
  two views are positives against the batch's other sentences (InfoNCE on cosines divided by
  ``--temperature``, 0.05). Dev and test are scored pairs, evaluated as ``cosine`` is.

``uer_ray.embed`` reads sentence vectors off a fine-tuned siamese model (its ``text_a`` tower and
pooling).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from uer_ray.errors import InputError, OptionsError
from uer_ray.layers.pooling import POOLINGS, pool
from uer_ray.tasks.base import TASKS, Task
from uer_ray.tasks.heads import FinetuneModel
from uer_ray.tasks.metrics import classification_metrics, regression_metrics
from uer_ray.tasks.readers import LabelMap, Row, read_tsv

OBJECTIVES = ("classify", "cosine", "simcse")
TEMPERATURE = 0.05
"""SimCSE's InfoNCE temperature by default (Gao et al. 2021)"""
TOWERS = ("shared", "separate")


class SiameseHead(nn.Module):
    """Pools each tower's hidden states into one vector; ``classifier`` (objective
    ``classify``): [u, v, |u−v|] (B,3H) -> (B,num_labels); ``tower_b``: ``text_b``'s own encoder
    when the towers are separate (set by ``SiameseTask.finetune_model``)."""

    def __init__(self, hidden_size: int, num_labels: int, pooling: str, objective: str):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r} (choose from {', '.join(POOLINGS)})")
        self.pooling = pooling
        self.classifier = nn.Linear(3 * hidden_size, num_labels) if objective == "classify" else None
        self.tower_b: nn.Module | None = None

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return pool(hidden, mask, self.pooling)

    def classify(self, pair: torch.Tensor) -> torch.Tensor:
        """(B,2,H) pooled (u, v) -> (B,num_labels) logits."""
        u, v = pair[:, 0], pair[:, 1]
        return self.classifier(torch.cat([u, v, (u - v).abs()], dim=-1))


def twin(model: nn.Module) -> nn.Module:
    """A deep copy of ``model``'s embedding and encoder (a ``Model`` without targets or
    tokenizers), for a tower of its own."""
    kept = model.targets, model.tokenizer, model.tgt_tokenizer
    model.targets, model.tokenizer, model.tgt_tokenizer = nn.ModuleDict(), None, None
    try:
        return copy.deepcopy(model)
    finally:
        model.targets, model.tokenizer, model.tgt_tokenizer = kept


def split_pair(input_ids: torch.Tensor, segment_ids: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """A batch of rows ``a b`` (segments 1 then 2, padding 0) -> ``a`` and ``b`` as batches of
    their own, each segment 1 and padded (with id 0, segment 0) to the longer of the two; ``b``
    is None when no row has a segment 2."""
    la, lb = (segment_ids == 1).sum(1), (segment_ids == 2).sum(1)  # (B,)
    width = int(torch.maximum(la, lb).max())
    pos = torch.arange(width, device=input_ids.device)[None, :]  # (1,W)
    keep_a = pos < la[:, None]
    a_ids = input_ids[:, :width].masked_fill(~keep_a, 0)
    a_segs = keep_a.long()
    if int(lb.max()) == 0:
        return a_ids, a_segs, None, None
    keep_b = pos < lb[:, None]
    index = (la[:, None] + pos).clamp(max=input_ids.size(1) - 1)
    b_ids = input_ids.gather(1, index).masked_fill(~keep_b, 0)
    return a_ids, a_segs, b_ids, keep_b.long()


class SiameseModel(FinetuneModel):
    """``forward(input_ids, segment_ids) -> (B,2,H)``: the pooled vectors (u, v) of the two
    texts of each row. For a batch of single texts, and for SimCSE in training, v is a second
    encoding of ``text_a`` (a different dropout draw)."""

    def __init__(self, model: nn.Module, head: SiameseHead, objective: str):
        super().__init__(model, head)
        self.objective = objective

    def _vectors(self, tower: nn.Module, ids: torch.Tensor, segs: torch.Tensor) -> torch.Tensor:
        return self.head(tower.encode(ids, segs), segs != 0)

    def forward(self, input_ids: torch.Tensor, segment_ids: torch.Tensor) -> torch.Tensor:
        a_ids, a_segs, b_ids, b_segs = split_pair(input_ids, segment_ids)
        if b_ids is None or (self.training and self.objective == "simcse"):
            b_ids, b_segs = a_ids, a_segs
        if self.head.tower_b is not None:
            return torch.stack([self._vectors(self.model, a_ids, a_segs),
                                self._vectors(self.head.tower_b, b_ids, b_segs)], dim=1)
        both = self._vectors(self.model, torch.cat([a_ids, b_ids]), torch.cat([a_segs, b_segs]))
        return torch.stack(both.chunk(2), dim=1)

    def freeze_encoder(self) -> None:
        if self.head.classifier is None:
            raise OptionsError(f"--freeze trains only the head; the siamese {self.objective} "
                               "objective has no head parameters (it trains the encoder)")
        super().freeze_encoder()
        if self.head.tower_b is not None:
            self.head.tower_b.requires_grad_(False)


@TASKS.register("siamese")
class SiameseTask(Task):
    """Two towers over ``text_a`` and ``text_b``: ``classify`` (accuracy), ``cosine`` or
    ``simcse`` (Spearman of the cosine against the label)."""

    text_columns = ("text_a", "text_b")
    select_metric = "accuracy"
    metric_choices = ("accuracy", "spearman", "pearson")
    card_task_type = "sentence-similarity"
    default_pooling = "mean"
    option_fields = ("tower", "siamese_objective", "temperature")

    def __init__(self) -> None:
        self.objective = "classify"
        self.tower = "shared"
        self.temperature = TEMPERATURE
        self.exact_test = True

    def configure(self, options: dict) -> None:
        metric = options.get("metric")
        self.objective = options.get("siamese_objective") or ("classify" if metric in (None, "accuracy") else "cosine")
        self.tower = options.get("tower", self.tower)
        self.temperature = float(options.get("temperature", self.temperature))
        if self.objective not in OBJECTIVES or self.tower not in TOWERS:
            raise OptionsError(f"siamese objective {self.objective!r} / tower {self.tower!r}: "
                               f"choose from {', '.join(OBJECTIVES)} / {', '.join(TOWERS)}")
        if self.temperature <= 0 or (self.temperature != TEMPERATURE and self.objective != "simcse"):
            raise OptionsError(f"--temperature ({self.temperature}) is the positive InfoNCE "
                               "temperature of --siamese-objective simcse")
        if self.objective == "simcse" and self.tower == "separate":
            raise OptionsError("--siamese-objective simcse encodes the same sentence twice with one "
                               "encoder: use --tower shared")
        scored = self.objective != "classify"
        if metric is not None and (metric == "accuracy") == scored:
            raise OptionsError(f"--metric {metric}: the siamese {self.objective} objective is "
                               f"scored by {'spearman or pearson' if scored else 'accuracy'}")
        self.select_metric = metric or ("spearman" if scored else "accuracy")
        self.exact_test = not scored

    @property
    def scored(self) -> bool:
        """Labels are similarity scores (cosine, simcse), not classes (classify)."""
        return self.objective != "classify"

    # -- files ---------------------------------------------------------------------------
    def read(self, path: str, labelled: bool = True) -> list[Row]:
        if not labelled:
            return read_tsv(path, ("text_a", "text_b"), optional=("label",))
        if self.objective == "simcse":  # training: sentences; dev and test: scored pairs
            return read_tsv(path, ("text_a",), optional=("text_b", "label"))
        return read_tsv(path, ("label", "text_a", "text_b"))

    def build_labels(self, rows: Sequence[Row], path: str) -> LabelMap | None:
        return None if self.scored else LabelMap.build([r.cells["label"] for r in rows])

    def _label(self, text: str, labels: LabelMap | None, path: str, line: int) -> Any:
        if not self.scored:
            return labels.id(text, path, line)
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise InputError(f"a {self.objective} label is a similarity score (a finite number), "
                             f"found {text!r}", path, line)
        return value

    def encode(self, rows: Sequence[Row], path: str, tokenizer: Any, labels: LabelMap | None,
               seq_length: int) -> list[dict]:
        """``[CLS] text_a [SEP]`` (segment 1) then ``[CLS] text_b [SEP]`` (segment 2) in one row;
        the model splits them back into two towers' inputs."""
        if seq_length < 2:
            raise InputError(f"--seq-length {seq_length} leaves no room for text", path)
        columns = [c for c in ("text_a", "text_b") if c in rows[0].cells]
        texts = {c: tokenizer.encode_batch([r.cells[c] for r in rows]) for c in columns}
        out = []
        for i, row in enumerate(rows):
            ids, segs = [], []
            for segment, column in enumerate(columns, start=1):
                part = [tokenizer.cls_id, *texts[column][i][: seq_length - 2], tokenizer.sep_id]
                ids += part
                segs += [segment] * len(part)
            example = {"input_ids": ids, "segment_ids": segs, "line": row.line, "label": None,
                       "pair": "text_b" in columns, "file": path}
            if "label" in row.cells:
                example["label"] = self._label(row.cells["label"], labels, path, row.line)
            out.append(example)
        return out

    # -- the model -------------------------------------------------------------------------
    def build_head(self, hidden_size: int, num_labels: int, pooling: str, crf: bool,
                   dropout: float = 0.1) -> nn.Module:
        return SiameseHead(hidden_size, num_labels, pooling, self.objective)

    def finetune_model(self, model: nn.Module, head: nn.Module) -> nn.Module:
        if self.tower == "separate":
            head.tower_b = twin(model)
        return SiameseModel(model, head, self.objective)

    # -- training and evaluation ----------------------------------------------------------
    def loss(self, head: nn.Module, output: torch.Tensor, batch: dict) -> torch.Tensor:
        if self.objective == "classify":
            return F.cross_entropy(head.classify(output), batch["label"])
        if self.objective == "cosine":
            return F.mse_loss(F.cosine_similarity(output[:, 0], output[:, 1], dim=-1), batch["label"])
        u, v = F.normalize(output[:, 0], dim=-1), F.normalize(output[:, 1], dim=-1)
        logits = u @ v.T / self.temperature  # (B,B): row i's positive is column i
        return F.cross_entropy(logits, torch.arange(len(u), device=u.device))

    def predict(self, head: nn.Module, output: torch.Tensor, batch: dict) -> list:
        if self.objective == "classify":
            return head.classify(output).float().softmax(-1).tolist()
        return F.cosine_similarity(output[:, 0], output[:, 1], dim=-1).float().tolist()

    def metrics(self, examples: Sequence[dict], predictions: Sequence, labels: LabelMap | None) -> dict:
        unfit = next((e for e in examples if not e["pair"] or e["label"] is None), None)
        if unfit is not None:
            raise InputError(f"siamese {self.objective} is evaluated on labelled pairs: dev and "
                             "test need columns label, text_a and text_b", unfit["file"], unfit["line"])
        gold = [e["label"] for e in examples]
        if self.scored:
            return regression_metrics(gold, list(predictions))
        pred = [int(np.argmax(p)) for p in predictions]
        return classification_metrics(gold, pred, labels.labels)

    # -- the report's paired comparisons ----------------------------------------------------
    def units(self, examples: Sequence[dict], predictions: Sequence,
              labels: LabelMap | None) -> np.ndarray:
        """classify: 1/0 correct per pair; cosine and simcse: (gold score, cosine)."""
        if not self.scored:
            return np.array([[float(int(np.argmax(p)) == e["label"])]
                             for e, p in zip(examples, predictions, strict=True)])
        return np.array([[e["label"], float(p)] for e, p in zip(examples, predictions, strict=True)])

    def metric_from_units(self, units: np.ndarray) -> np.ndarray:
        if units.shape[-1] == 1:
            return units[..., 0].mean(-1)
        x, y = units[..., 0], units[..., 1]
        if self.select_metric == "spearman":
            x, y = _average_ranks(x), _average_ranks(y)
        x = x - x.mean(-1, keepdims=True)
        y = y - y.mean(-1, keepdims=True)
        den = np.sqrt((x * x).sum(-1) * (y * y).sum(-1))
        return np.divide((x * y).sum(-1), den, out=np.zeros_like(den), where=den > 0)

    # -- prediction files -----------------------------------------------------------------
    def output_header(self, labels: LabelMap | None, probs: bool) -> list[str]:
        if self.scored:
            return ["score"]
        return ["label"] + ([f"prob_{name}" for name in labels.labels] if probs else [])

    def output_row(self, example: dict, prediction: Any, labels: LabelMap | None, probs: bool) -> list[str]:
        if self.scored:
            return [f"{prediction:.6f}"]
        best = int(np.argmax(prediction))
        return [labels.name(best)] + ([f"{p:.6f}" for p in prediction] if probs else [])


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks along the last axis, tied values sharing the mean of their ranks (as
    ``metrics.regression_metrics``'s Spearman ranks them)."""
    flat = values.reshape(-1, values.shape[-1])
    out = np.empty_like(flat, dtype=float)
    for i, row in enumerate(flat):
        s = np.sort(row)
        out[i] = (np.searchsorted(s, row, "left") + np.searchsorted(s, row, "right") + 1) / 2
    return out.reshape(values.shape)
