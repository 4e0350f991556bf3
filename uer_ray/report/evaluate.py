"""Per-example test results of fine-tuned models, for the paired comparisons of the report.

Each finished configuration is run once over the test file (``predict`` on the CPU) and its
per-example units (``Task.units``) are cached in the report folder under the model's and the
test file's sha256, so a second report of the same search costs nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from uer_ray.report.stats import Comparison, compare


def _sha(path: Path) -> str:
    from uer_ray.records import sha256_file

    return sha256_file(path)[:16]


def test_units(model: Path, test_file: str, cache: Path) -> tuple[str, np.ndarray] | None:
    """(task, units) of one fine-tuned model folder on ``test_file``; None when the task has
    no paired metric."""
    from uer_ray.tasks.checkpoint import read_settings

    settings = read_settings(model)
    key = f"{_sha(model / 'model.safetensors')}-{_sha(model / 'head.safetensors')}-{_sha(Path(test_file))}"
    file = cache / f"{key}.npy"
    if file.exists():
        return settings.task, np.load(file)
    from uer_ray.tasks.checkpoint import load_finetuned
    from uer_ray.tasks.loop import predict

    ft, task, labels, settings, tokenizer = load_finetuned(model)
    examples = task.encode(task.read(test_file), test_file, tokenizer, labels, settings.seq_length)
    preds = predict(ft, ft.head, task, examples, batch_size=64, pad_id=tokenizer.pad_id,
                    progress=False)
    u = task.units(examples, preds, labels)
    if u is None:
        return None
    cache.mkdir(parents=True, exist_ok=True)
    np.save(file, u)
    return settings.task, u


def comparisons(models: dict[str, Path], test_file: str, metric: str, cache: Path) -> tuple[list[Comparison], list[str]]:
    """Every pair of the named models on ``test_file`` (best first against each other one, then
    the remaining pairs); notes say what could not be compared."""
    scored, notes, task = {}, [], None
    for name, folder in models.items():
        try:
            got = test_units(folder, test_file, cache)
        except Exception as e:  # one unreadable model must not sink the whole report
            notes.append(f"{name}: not scored on the test file ({type(e).__name__}: {e})")
            continue
        if got is None:
            notes.append(f"{name}: its task has no paired test in this report")
            continue
        task, scored[name] = got[0], got[1]
    if task is None or len(scored) < 2:
        return [], notes
    from uer_ray.tasks import get_task

    scorer = get_task(task)
    if metric in scorer.selectable_metrics():  # a task that offers several (text2text)
        scorer.configure({"metric": metric})
    ranked = sorted(scored, key=lambda n: -float(scorer.metric_from_units(scored[n][None])[0]))
    pairs = [(a, b) for i, a in enumerate(ranked) for b in ranked[i + 1:]]
    return [compare(scorer, a, scored[a], b, scored[b], metric) for a, b in pairs], notes


def summary(c: Comparison) -> dict:
    return {"a": c.a, "b": c.b, "metric": c.metric, "a_value": c.a_value, "b_value": c.b_value,
            "difference": c.difference, "ci95": [c.low, c.high], "resolved": c.resolved,
            "mcnemar_p": c.mcnemar_p}

