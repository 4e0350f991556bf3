"""Downstream tasks (registry ``TASKS``): ``classify``, ``pair``, ``tag``, ``dbqa``, ``regress``.

Each task reads its TSV format (header-named columns, DESIGN §3), builds its head on
``Model.encode`` and computes its metrics; ``loop`` holds the training epoch and inference pass
shared by the in-process path and Ray Train workers; ``checkpoint`` saves and loads fine-tuned
model directories. See docs/finetune.md.
"""

from uer_ray.tasks import tagging as _tagging  # noqa: F401  (registers tag)
from uer_ray.tasks import text as _text  # noqa: F401  (registers classify, pair, dbqa, regress)
from uer_ray.tasks.base import TASKS, Task, get_task
from uer_ray.tasks.heads import POOLINGS, FinetuneModel, SequenceHead, TagHead, pool
from uer_ray.tasks.readers import LabelMap, Row, read_tsv

__all__ = [
    "POOLINGS",
    "TASKS",
    "FinetuneModel",
    "LabelMap",
    "Row",
    "SequenceHead",
    "TagHead",
    "Task",
    "get_task",
    "pool",
    "read_tsv",
]
