"""Fine-tuned Hugging Face task heads (docs/interop.md, "Fine-tuned heads"): a
``BertForSequenceClassification``, ``BertForTokenClassification`` or ``BertForQuestionAnswering``
folder becomes a fine-tuned uer_ray checkpoint (``uer_ray.tasks.checkpoint``: the model, the head
under ``head.safetensors``, ``task.json``), which ``predict`` runs; a fine-tuned uer_ray checkpoint
of a task that has such a head is written back as that class.

The layouts are the same layer for layer, so the logits are identical:

==============================  ==========================================  ====================
Hugging Face class              its head                                    uer_ray head
==============================  ==========================================  ====================
BertForSequenceClassification   ``bert.pooler.dense`` + tanh on [CLS],      ``SequenceHead``,
                                dropout, ``classifier``                     pooling ``first``:
                                                                            ``dense``, ``output``
BertForTokenClassification      dropout, ``classifier`` on every token      ``TagHead`` (no CRF):
                                                                            ``output``
BertForQuestionAnswering        ``qa_outputs`` on every token (start, end)  the ``mrc`` head:
                                                                            ``output``
==============================  ==========================================  ====================

A ``BertForSequenceClassification`` does not say whether it reads one text or a pair, or
whether it ranks answers: it becomes ``classify`` unless told otherwise (``task``), ``regress``
when ``problem_type`` is ``regression`` or it has one output, ``multi_label`` when
``problem_type`` is ``multi_label_classification``. An export records the uer_ray task settings
under ``uer_ray_task`` in ``config.json`` (transformers keeps unknown fields), so a round trip
restores them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from uer_ray.errors import InputError, MismatchError, OptionsError

SEQUENCE = "BertForSequenceClassification"
TOKEN = "BertForTokenClassification"
QA = "BertForQuestionAnswering"
HEAD_CLASSES = (SEQUENCE, TOKEN, QA)
MARKER = "uer_ray_task"  # config.json field an export writes: the uer_ray task settings

# uer_ray task -> (Hugging Face class, problem_type); the sequence tasks all use SequenceHead
TASK_CLASSES = {
    "classify": (SEQUENCE, "single_label_classification"),
    "pair": (SEQUENCE, "single_label_classification"),
    "dbqa": (SEQUENCE, "single_label_classification"),
    "multi_label": (SEQUENCE, "multi_label_classification"),
    "regress": (SEQUENCE, "regression"),
    "tag": (TOKEN, None),
    "mrc": (QA, None),
}
# The Hugging Face key of each head's output layer, and the uer_ray head parameters per class
_OUTPUT = {SEQUENCE: "classifier", TOKEN: "classifier", QA: "qa_outputs"}
_HEAD_KEYS = {
    SEQUENCE: {"dense.weight", "dense.bias", "output.weight", "output.bias"},
    TOKEN: {"output.weight", "output.bias"},
    QA: {"output.weight", "output.bias"},
}
# Class-name endings of task heads (any family) that the import does not take
_TASK_SUFFIXES = ("SequenceClassification", "TokenClassification", "QuestionAnswering",
                  "QuestionAnsweringSimple", "MultipleChoice")


def supported() -> str:
    """The sentence naming what is imported and exported, for error messages."""
    return (f"convert keeps the heads of {SEQUENCE} (tasks classify, pair, dbqa, regress, "
            f"multi_label), {TOKEN} (tag) and {QA} (mrc)")


def tasks_of(arch: str) -> list[str]:
    """The uer_ray tasks a Hugging Face head class can become."""
    return [t for t, (cls, _) in TASK_CLASSES.items() if cls == arch]


# --------------------------------------------------------------------------- import


@dataclass
class HeadImport:
    """What a Hugging Face task head becomes: the task, its label map (None for regress and
    mrc), the uer_ray head state, the Hugging Face keys it consumed and the task settings."""

    architecture: str
    task: str
    labels: list[str] | None
    state: dict[str, torch.Tensor]
    used: list[str]
    seq_length: int
    columns: list[str] | None = None
    options: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def plan_import(architecture: str, config: dict, extra: dict[str, torch.Tensor],
                canonical: dict[str, torch.Tensor], task: str | None, cfg_file: str) -> HeadImport | None:
    """The fine-tuned head of a Hugging Face checkpoint, or None for a pre-training class.

    ``extra``: the source tensors outside the encoder and the pre-training heads;
    ``canonical``: the mapped ones (the pooler is ``pooler.*``). A task-head class other than
    the three is refused in one line, as is a ``task`` the class cannot be."""
    if architecture not in HEAD_CLASSES:
        if architecture.endswith(_TASK_SUFFIXES):
            raise InputError(f"{architecture}: its task head has no uer_ray counterpart; {supported()}; "
                             "pass --drop-head to import the encoder alone", cfg_file)
        if task is not None:
            raise OptionsError(f"--task {task}: {architecture} has no fine-tuned head to import "
                               f"(--task applies to {', '.join(HEAD_CLASSES)})")
        return None
    fits = tasks_of(architecture)
    marker = config.get(MARKER) if isinstance(config.get(MARKER), dict) else {}
    if task is not None and task not in fits:
        raise OptionsError(f"--task {task} does not fit a {architecture} (choose {', '.join(fits)})")
    weight, bias = (extra.get(f"{_OUTPUT[architecture]}.{leaf}") for leaf in ("weight", "bias"))
    if weight is None or bias is None:
        raise MismatchError(f"{cfg_file}: says {architecture} but the weights have no "
                            f"{_OUTPUT[architecture]}.weight / .bias")
    rows = weight.shape[0]
    notes: list[str] = []
    chosen = task or (marker.get("task") if marker.get("task") in fits else None)
    if chosen is None:
        chosen = _default_task(architecture, config, rows, notes)
    if architecture == SEQUENCE and ("pooler.weight" not in canonical or "pooler.bias" not in canonical):
        raise MismatchError(f"{cfg_file}: {SEQUENCE} without bert.pooler.dense weights")
    state = {"output.weight": weight, "output.bias": bias}
    if architecture == SEQUENCE:
        state.update({"dense.weight": canonical["pooler.weight"], "dense.bias": canonical["pooler.bias"]})
    labels = _labels(chosen, architecture, config, rows, cfg_file)
    limit = config.get("max_position_embeddings", 512)
    seq_length = min(int(marker.get("seq_length") or limit), limit)
    columns = marker.get("columns") if marker.get("task") == chosen else None
    options = (marker.get("options") or {}) if marker.get("task") == chosen else {}
    return HeadImport(architecture, chosen, labels, state,
                      [f"{_OUTPUT[architecture]}.weight", f"{_OUTPUT[architecture]}.bias"],
                      seq_length, columns, options, notes)


def _default_task(architecture: str, config: dict, rows: int, notes: list[str]) -> str:
    if architecture == TOKEN:
        return "tag"
    if architecture == QA:
        return "mrc"
    problem = config.get("problem_type")
    if problem == "regression" or (problem is None and rows == 1):
        notes.append(f"{SEQUENCE} with one output (problem_type {problem!r}) became task regress.")
        return "regress"
    if problem == "multi_label_classification":
        notes.append(f"problem_type {problem!r} became task multi_label.")
        return "multi_label"
    notes.append(f"A {SEQUENCE} does not say whether it reads one text or a pair: it became task "
                 "classify (text_a); convert with --task pair (or dbqa, regress) for another.")
    return "classify"


def _labels(task: str, architecture: str, config: dict, rows: int, cfg_file: str) -> list[str] | None:
    """The label names, in output order, from ``id2label`` (None for regress and mrc)."""
    if architecture == QA:
        if rows != 2:
            raise MismatchError(f"{cfg_file}: qa_outputs has {rows} outputs; {QA} has 2 (start, end)")
        return None
    if task == "regress":
        if rows != 1:
            raise MismatchError(f"{cfg_file}: task regress needs one output; the classifier has {rows}")
        return None
    id2label = config.get("id2label")
    if not isinstance(id2label, dict) or not id2label:
        raise InputError(f"no id2label: the label names of the {rows} outputs of {architecture} "
                         "are needed (add id2label, e.g. {\"0\": \"neg\", \"1\": \"pos\"})", cfg_file)
    try:
        by_id = {int(k): str(v) for k, v in id2label.items()}
    except ValueError as e:
        raise InputError(f"id2label keys must be label ids 0..{rows - 1}: {e}", cfg_file) from e
    if sorted(by_id) != list(range(rows)):
        raise MismatchError(f"{cfg_file}: id2label names ids {sorted(by_id)} but the "
                            f"{_OUTPUT[architecture]} has {rows} outputs")
    names = [by_id[i] for i in range(rows)]
    if len(set(names)) != rows:
        raise InputError(f"id2label repeats a label name: {names}", cfg_file)
    label2id = config.get("label2id")
    if isinstance(label2id, dict) and label2id and label2id != {n: i for i, n in enumerate(names)}:
        raise InputError(f"label2id {label2id} disagrees with id2label {by_id}", cfg_file)
    return names


def attach_head(model, plan: HeadImport, notes: list[str]):
    """(fine-tuning model with the imported head, its ``TaskSettings``): the head is the task's
    own (``Task.build_head``), loaded strictly, so a head whose layout differs is refused."""
    from uer_ray.tasks.checkpoint import TaskSettings, build_finetune_model, build_task

    settings = TaskSettings(plan.task, plan.labels, "first", plan.seq_length, crf=False,
                            columns=plan.columns, options=plan.options)
    task, _ = build_task(settings)
    ft = build_finetune_model(model, task, settings)
    keys = set(ft.head.state_dict())
    if keys != set(plan.state):
        raise MismatchError(f"the {plan.task} head ({type(ft.head).__name__}: {', '.join(sorted(keys))}) "
                            f"does not have the layout of {plan.architecture}'s head "
                            f"({', '.join(sorted(plan.state))})")
    shapes = {k: (tuple(v.shape), tuple(plan.state[k].shape)) for k, v in ft.head.state_dict().items()
              if v.shape != plan.state[k].shape}
    if shapes:
        raise MismatchError(f"the {plan.task} head's shapes differ from {plan.architecture}'s: {shapes}")
    ft.head.load_state_dict({k: v.float() for k, v in plan.state.items()})
    notes.append(f"The {plan.architecture} head became the {plan.task} head "
                        f"({type(ft.head).__name__}"
                        + (f", labels {', '.join(plan.labels)}" if plan.labels else "")
                        + f", seq_length {plan.seq_length}): `run.py predict --model` runs it.")
    return ft.eval(), settings


# --------------------------------------------------------------------------- export


def export_head(src: Path) -> tuple[str, dict[str, torch.Tensor], dict]:
    """A fine-tuned uer_ray checkpoint's head in Hugging Face terms: (class, head tensors in
    Hugging Face names, config.json fields). Every reason it cannot be written is one line."""
    from safetensors.torch import load_file

    from uer_ray.tasks.checkpoint import HEAD_FILE, read_settings

    settings = read_settings(src)
    if settings.task not in TASK_CLASSES:
        raise MismatchError(f"{src}: task {settings.task!r} has no Hugging Face head class; {supported()}; "
                            "pass --drop-head to export the encoder with its pre-training heads")
    arch, problem = TASK_CLASSES[settings.task]
    head = load_file(str(src / HEAD_FILE))
    problems = []
    extra = sorted(set(head) - _HEAD_KEYS[arch])
    if any(k.startswith("crf.") for k in extra):
        problems.append(f"the {settings.task} head has a CRF (crf.*); {arch} has none (a per-token softmax)")
    elif extra:
        problems.append(f"head parameters {', '.join(extra)} have no counterpart in {arch}")
    missing = sorted(_HEAD_KEYS[arch] - set(head))
    if missing:
        problems.append(f"the {settings.task} head lacks {', '.join(missing)} that {arch} has")
    if arch == SEQUENCE and settings.pooling != "first":
        problems.append(f"pooling {settings.pooling!r}: {arch} reads the first token ([CLS]) only")
    rows = head["output.weight"].shape[0] if "output.weight" in head else None
    if arch == QA and rows != 2:
        problems.append(f"the mrc head has {rows} outputs; {QA} has 2 (start, end)")
    if settings.labels is not None and rows is not None and rows != len(settings.labels):
        problems.append(f"{len(settings.labels)} labels in task.json but {rows} head outputs")
    if problems:
        raise MismatchError(f"{src}: this fine-tuned {settings.task} model cannot be written as a "
                            f"Hugging Face {arch}: " + "; ".join(problems))
    out = _OUTPUT[arch]
    tensors = {f"{out}.weight": head["output.weight"], f"{out}.bias": head["output.bias"]}
    if arch == SEQUENCE:
        tensors.update({"bert.pooler.dense.weight": head["dense.weight"],
                        "bert.pooler.dense.bias": head["dense.bias"]})
    names = settings.labels or (["LABEL_0", "LABEL_1"] if arch == QA else ["LABEL_0"])
    fields = {"id2label": {str(i): n for i, n in enumerate(names)},
              "label2id": {n: i for i, n in enumerate(names)}, "problem_type": problem,
              MARKER: {"task": settings.task, "seq_length": settings.seq_length,
                       "columns": settings.columns, "options": settings.options}}
    return arch, tensors, fields


def encoder_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The embedding and encoder parameters of a uer_ray state dict (no pre-training target)."""
    return {k: v for k, v in state.items() if re.match(r"(embedding|encoder)\.", k)}
