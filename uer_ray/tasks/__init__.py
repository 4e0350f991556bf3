"""Downstream tasks (registry ``TASKS``), one per file named after it: ``classify``, ``pair``,
``tag``, ``dbqa``, ``regress``.

Each task reads its TSV format (header-named columns, DESIGN §3), builds its head on
``Model.encode`` and computes its metrics; ``loop`` holds the training epoch and inference pass
shared by the in-process path and Ray Train workers; ``checkpoint`` saves and loads fine-tuned
model directories. See docs/finetune.md. Every module of this folder is imported here, so a new
task file registers itself.
"""

import importlib
import pkgutil

from uer_ray.tasks.base import TASKS, SentenceTask, Task, get_task
from uer_ray.tasks.heads import FinetuneModel, SequenceHead, TagHead
from uer_ray.tasks.readers import LabelMap, Row, read_tsv

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "TASKS",
    "FinetuneModel",
    "LabelMap",
    "Row",
    "SentenceTask",
    "SequenceHead",
    "TagHead",
    "Task",
    "get_task",
    "read_tsv",
]
