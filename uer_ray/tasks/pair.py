"""``pair``: sentence-pair classification (entailment, paraphrase): columns ``label``,
``text_a``, ``text_b``."""

from __future__ import annotations

from uer_ray.tasks.base import TASKS, SentenceTask


@TASKS.register("pair")
class PairTask(SentenceTask):
    """Sentence-pair classification (entailment, paraphrase): ``label``, ``text_a``, ``text_b``."""

    text_columns = ("text_a", "text_b")
