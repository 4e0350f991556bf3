"""``classify``: single-sentence classification (sentiment, topic): columns ``label``,
``text_a``."""

from __future__ import annotations

from uer_ray.tasks.base import TASKS, SentenceTask


@TASKS.register("classify")
class ClassifyTask(SentenceTask):
    """Single-sentence classification: columns ``label``, ``text_a``."""
