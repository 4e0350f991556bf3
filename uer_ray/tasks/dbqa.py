"""``dbqa``: answer selection (document QA ranking): candidates of a question ranked by
P(label 1), dev metric MAP."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from uer_ray.errors import InputError
from uer_ray.tasks.base import TASKS, SentenceTask
from uer_ray.tasks.metrics import ranking_metrics
from uer_ray.tasks.readers import LabelMap, Row


@TASKS.register("dbqa")
class DbqaTask(SentenceTask):
    """Answer selection: ``qid``, ``text_a`` (question), ``text_b`` (candidate answer), ``label``
    (1 = answers the question, 0 = not). Candidates of a question are ranked by P(label 1);
    the dev metric is MAP."""

    text_columns = ("text_a", "text_b")
    extra_columns = ("qid",)
    select_metric = "map"
    card_task_type = "text-ranking"
    exact_test = False

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

    def units(self, examples: Sequence[dict], predictions: Sequence,
              labels: LabelMap | None) -> None:
        # MAP averages over questions, not examples: resampling examples would not give it
        return None
