"""A fine-tuned model directory: an ordinary checkpoint directory (``save_pretrained``: config,
weights, tokenizer, meta) plus ``head.safetensors`` (the task head) and ``task.json`` (task,
labels, pooling, sequence length, CRF, text columns, task options), so ``predict --model DIR`` needs nothing
else and ``finetune --init DIR`` / ``load_model(DIR)`` still read it as a plain checkpoint."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from uer_ray.atomic import write_json
from uer_ray.errors import InputError
from uer_ray.tasks.base import Task, get_task
from uer_ray.tasks.heads import FinetuneModel
from uer_ray.tasks.readers import LabelMap

TASK_FILE = "task.json"
HEAD_FILE = "head.safetensors"
FORMAT_VERSION = 1


@dataclass
class TaskSettings:
    """What ``task.json`` records."""

    task: str
    labels: list[str] | None
    pooling: str
    seq_length: int
    crf: bool = False
    columns: list[str] | None = None
    options: dict = field(default_factory=dict)
    """task-specific settings (``Task.configure``): ``metric`` when ``--metric`` chose one;
    text2text's ``beams`` and ``tgt_seq_length``"""

    def to_json(self) -> dict:
        return {"format_version": FORMAT_VERSION, "task": self.task, "labels": self.labels,
                "pooling": self.pooling, "seq_length": self.seq_length, "crf": self.crf,
                "columns": self.columns, "options": self.options}


def build_task(settings: TaskSettings) -> tuple[Task, LabelMap | None]:
    """The task object (with its text columns) and label map that ``settings`` describe."""
    task = get_task(settings.task)
    if settings.columns:
        task.text_columns = tuple(settings.columns)
    task.configure(settings.options)
    labels = LabelMap(settings.labels) if settings.labels is not None else None
    return task, labels


def build_finetune_model(model: Any, task: Task, settings: TaskSettings) -> FinetuneModel:
    """``model`` (a pre-trained ``Model``) with a freshly initialised head for ``task``
    (``Task.finetune_model`` joins them)."""
    n = len(settings.labels) if settings.labels is not None else 1
    head = task.build_head(model.hidden_size, n, settings.pooling, settings.crf,
                           dropout=model.config.dropout)
    return task.finetune_model(model, head)


def save_finetuned(directory: str | Path, ft: FinetuneModel, tokenizer: Any, settings: TaskSettings,
                   meta: dict | None = None) -> None:
    """Write the whole fine-tuned model into ``directory`` (which the caller makes atomic)."""
    from uer_ray.models import save_pretrained

    directory = Path(directory)
    save_pretrained(ft.model, directory, tokenizer=tokenizer, meta=meta)
    save_file({k: v.detach().contiguous() for k, v in ft.head.state_dict().items()},
              str(directory / HEAD_FILE))
    write_json(directory / TASK_FILE, settings.to_json())


def read_settings(directory: str | Path) -> TaskSettings:
    path = Path(directory) / TASK_FILE
    if not path.exists():
        raise InputError(
            f"no {TASK_FILE}: this is not a fine-tuned model directory "
            "(make one with `run.py finetune --out DIR`)", str(directory))
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("format_version", None)
    return TaskSettings(**data)


def load_finetuned(directory: str | Path) -> tuple[FinetuneModel, Task, LabelMap | None, TaskSettings, Any]:
    """(model with head, task, label map, settings, tokenizer) from a fine-tuned directory."""
    from uer_ray.models import load_model

    settings = read_settings(directory)
    task, labels = build_task(settings)
    model = load_model(directory)
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None:
        raise InputError("the checkpoint has no tokenizer/ folder", str(directory))
    ft = build_finetune_model(model, task, settings)
    ft.head.load_state_dict(load_file(str(Path(directory) / HEAD_FILE)))
    ft.eval()
    return ft, task, labels, settings, tokenizer
