"""``choice``: multiple choice (C3): a context, a question and its choices; one score per
choice, softmax over the choices; accuracy.

Files are C3's JSON (UER-py's run_c3 format): a list of documents ``[context sentences,
[{"question", "choice": [...], "answer", "id"?}, ...], document id?]``; each question is a row
(its "line" is its JSON path, ``[12][1][0]``, which every error names). The answer must be one
of the choices (dev and test too; ``predict`` ignores it). A question needs at least two
choices; questions may have different numbers of them: a batch is padded to its largest number
of choices and the padding choices are masked out of the softmax (they never run through the
encoder).

Each choice is one input, laid out as UER-py's run_c3 does: ``[CLS] choice [SEP] question [SEP]``
(segment 1) then ``context [SEP]`` (segment 2), the context sentences joined by newlines and
cut from the end to fit ``seq_length`` (then the question, when choice and question alone do not
fit). The head is the project's sequence head with one output (pooling, dense + tanh, dropout,
a linear score), shared by all choices. ``predict`` writes a TSV: ``id`` (the question's id, else
its JSON path), ``index`` (0-based) and ``choice`` (its text), plus ``probs`` (the choices'
probabilities, space-separated) with ``--probs``. ChID's idiom cloze is not read.
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
from uer_ray.tasks.heads import SequenceHead
from uer_ray.tasks.mrc import _expect, _load_json
from uer_ray.tasks.readers import LabelMap, Row


def read_c3(path: str, labelled: bool) -> list[Row]:
    """One row per question: cells ``id``, ``context``, ``question``, ``choices`` (a list) and,
    with ``labelled``, ``label`` (the answer's index among the choices)."""
    doc = _load_json(path)
    if not isinstance(doc, list):
        raise InputError("expected C3 JSON: a list of [context sentences, questions, id] documents",
                         path, "[]")
    rows = []
    for i, item in enumerate(doc):
        where_d = f"[{i}]"
        if not isinstance(item, list) or len(item) < 2:
            raise InputError("a document must be [context sentences, questions(, id)]", path, where_d)
        sentences = _expect(item[0], list, "the context", path, f"{where_d}[0]")
        for n, s in enumerate(sentences):
            _expect(s, str, "a context sentence", path, f"{where_d}[0][{n}]")
        context = "\n".join(sentences)
        for j, q in enumerate(_expect(item[1], list, "the questions", path, f"{where_d}[1]")):
            where = f"{where_d}[1][{j}]"
            _expect(q, dict, "a question", path, where)
            question = _expect(q.get("question"), str, "question", path, f"{where}.question")
            choices = _expect(q.get("choice"), list, "choice", path, f"{where}.choice")
            for n, c in enumerate(choices):
                _expect(c, str, "a choice", path, f"{where}.choice[{n}]")
            if len(choices) < 2:
                raise InputError(f"a question needs at least 2 choices, found {len(choices)}",
                                 path, f"{where}.choice")
            cells: dict[str, Any] = {"id": str(q.get("id", where)), "context": context,
                                     "question": question, "choices": choices}
            if labelled:
                answer = _expect(q.get("answer"), str, "answer", path, f"{where}.answer")
                if answer not in choices:
                    raise InputError(f"answer {answer!r} is not one of the choices "
                                     f"({', '.join(map(repr, choices))})", path, f"{where}.answer")
                cells["label"] = choices.index(answer)
            rows.append(Row(where, cells))  # type: ignore[arg-type]  (a JSON path, not a number)
    if not rows:
        raise InputError("no questions in the file", path, "[]")
    return rows


def choice_inputs(tokenizer: Any, choice: list[int], question: list[int], context: list[int],
                  seq_length: int) -> tuple[list[int], list[int]]:
    """``[CLS] choice [SEP] question [SEP] context [SEP]``, segments 1 then 2, at most
    ``seq_length`` tokens: the context is cut first, then the question, then the choice."""
    budget = seq_length - 4
    choice = choice[:budget]
    question = question[: budget - len(choice)]
    context = context[: budget - len(choice) - len(question)]
    first = [tokenizer.cls_id, *choice, tokenizer.sep_id, *question, tokenizer.sep_id]
    return first + context + [tokenizer.sep_id], [1] * len(first) + [2] * (len(context) + 1)


@TASKS.register("choice")
class ChoiceTask(Task):
    """Multiple choice: a score per choice, softmax over a question's choices; accuracy."""

    text_columns = ("question", "context")
    card_task_type = "multiple-choice"
    exact_test = True

    def read(self, path: str, labelled: bool = True) -> list[Row]:
        return read_c3(path, labelled)

    def build_labels(self, rows: Sequence[Row], path: str) -> None:
        return None

    def encode(self, rows: Sequence[Row], path: str, tokenizer: Any, labels: LabelMap | None,
               seq_length: int) -> list[dict]:
        if seq_length < 5:
            raise InputError(f"--seq-length {seq_length} leaves no room for text", path)
        contexts = list(dict.fromkeys(r.cells["context"] for r in rows))
        context_ids = dict(zip(contexts, tokenizer.encode_batch(contexts), strict=True))
        questions = tokenizer.encode_batch([r.cells["question"] for r in rows])
        choice_ids = tokenizer.encode_batch([c for r in rows for c in r.cells["choices"]])
        out, k = [], 0
        for row, q in zip(rows, questions, strict=True):
            ids, segs = [], []
            for c in choice_ids[k : k + len(row.cells["choices"])]:
                a, b = choice_inputs(tokenizer, c, q, context_ids[row.cells["context"]], seq_length)
                ids.append(a)
                segs.append(b)
            k += len(row.cells["choices"])
            out.append({"input_ids": ids, "segment_ids": segs, "line": row.line,
                        "id": row.cells["id"], "choices": row.cells["choices"],
                        "label": row.cells.get("label")})
        return out

    def build_head(self, hidden_size: int, num_labels: int, pooling: str, crf: bool,
                   dropout: float = 0.1) -> nn.Module:
        return SequenceHead(hidden_size, 1, pooling, dropout=dropout)

    def forward(self, net: nn.Module, batch: dict) -> torch.Tensor:
        """(B,C) scores: the real choices run through ``net`` as rows of one batch; padding
        choices score -inf."""
        mask = batch["choice_mask"]
        scores = net(batch["input_ids"][mask], batch["segment_ids"][mask]).squeeze(-1)
        out = torch.full(mask.shape, float("-inf"), dtype=scores.dtype, device=scores.device)
        return out.masked_scatter(mask, scores)

    def loss(self, head: nn.Module, output: torch.Tensor, batch: dict) -> torch.Tensor:
        return F.cross_entropy(output.float(), batch["label"])

    def predict(self, head: nn.Module, output: torch.Tensor, batch: dict) -> list:
        probs = output.float().softmax(-1)
        return [p[m].tolist() for p, m in zip(probs, batch["choice_mask"], strict=True)]

    def metrics(self, examples: Sequence[dict], predictions: Sequence, labels: LabelMap | None) -> dict:
        right = self.units(examples, predictions, labels)[:, 0]
        chance = float(np.mean([1 / len(e["choices"]) for e in examples]))
        return {"accuracy": float(right.mean()), "count": len(examples), "chance": chance}

    def units(self, examples: Sequence[dict], predictions: Sequence,
              labels: LabelMap | None) -> np.ndarray:
        return np.array([[float(int(np.argmax(p)) == e["label"])]
                         for e, p in zip(examples, predictions, strict=True)]).reshape(-1, 1)

    def metric_from_units(self, units: np.ndarray) -> np.ndarray:
        return units[..., 0].mean(-1)

    def output_header(self, labels: LabelMap | None, probs: bool) -> list[str]:
        return ["id", "index", "choice"] + (["probs"] if probs else [])

    def output_row(self, example: dict, prediction: Any, labels: LabelMap | None, probs: bool) -> list[str]:
        best = int(np.argmax(prediction))
        text = " ".join(example["choices"][best].replace("\t", " ").splitlines())
        return [example["id"], str(best), text] + ([" ".join(f"{p:.6f}" for p in prediction)] if probs else [])
