"""Is a difference between two configurations larger than the noise of the test set?

Both are scored on the same test examples, so the comparison is paired: per example a unit of
evidence (1/0 correct for accuracy; correct/predicted/gold entity counts per sentence for F1;
gold/predicted scores for Pearson), resampled with replacement together for both models
(paired bootstrap, Koehn 2004; Berg-Kirkpatrick et al. 2012). For accuracy McNemar's exact test
on the examples only one of the two gets right is reported too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    metric: str
    a_value: float
    b_value: float
    low: float
    high: float
    mcnemar_p: float | None = None

    @property
    def difference(self) -> float:
        return self.a_value - self.b_value

    @property
    def resolved(self) -> bool:
        """The 95% interval of a - b excludes 0."""
        return self.low > 0 or self.high < 0


def units(task: str, examples: list[dict], predictions: list, labels) -> np.ndarray | None:
    """(n, k) per-example statistics whose column sums give the metric (None: no paired test
    for this task's metric)."""
    if task in ("classify", "pair"):
        return np.array([[float(int(np.argmax(p)) == e["label"])]
                         for e, p in zip(examples, predictions, strict=True)])
    if task == "tag":
        from uer_ray.tasks.metrics import entity_spans

        rows = []
        for e, p in zip(examples, predictions, strict=True):
            pred = [labels.name(i) for i in p] + ["O"] * (e["length"] - len(p))
            gold, got = set(entity_spans(e["tags"])), set(entity_spans(pred))
            rows.append([len(gold & got), len(got), len(gold)])
        return np.array(rows, dtype=float)
    if task == "regress":
        return np.array([[e["label"], float(p)] for e, p in zip(examples, predictions, strict=True)])
    return None


def metric_of(task: str, sums_or_rows: np.ndarray) -> np.ndarray:
    """The metric from resampled units: ``(B, n, k)`` rows -> ``(B,)`` values."""
    if task in ("classify", "pair"):
        return sums_or_rows[..., 0].mean(-1)
    if task == "tag":
        s = sums_or_rows.sum(-2)  # (B, 3)
        correct, predicted, gold = s[..., 0], s[..., 1], s[..., 2]
        precision = np.divide(correct, predicted, out=np.zeros_like(correct), where=predicted > 0)
        recall = np.divide(correct, gold, out=np.zeros_like(correct), where=gold > 0)
        total = precision + recall
        return np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    if task == "regress":
        x, y = sums_or_rows[..., 0], sums_or_rows[..., 1]
        x = x - x.mean(-1, keepdims=True)
        y = y - y.mean(-1, keepdims=True)
        den = np.sqrt((x * x).sum(-1) * (y * y).sum(-1))
        return np.divide((x * y).sum(-1), den, out=np.zeros_like(den), where=den > 0)
    raise ValueError(f"no paired metric for task {task!r}")


def compare(task: str, name_a: str, a: np.ndarray, name_b: str, b: np.ndarray, metric: str,
            seed: int = 0) -> Comparison:
    """Paired bootstrap 95% interval of metric(a) - metric(b) over the same examples."""
    if len(a) != len(b):
        raise ValueError(f"{name_a} and {name_b} were scored on different examples")
    rng = np.random.default_rng(seed)
    n = len(a)
    diffs = []
    for start in range(0, RESAMPLES, 250):  # in blocks: memory stays small for big test sets
        idx = rng.integers(0, n, size=(min(250, RESAMPLES - start), n))
        diffs.append(metric_of(task, a[idx]) - metric_of(task, b[idx]))
    d = np.concatenate(diffs)
    value_a, value_b = float(metric_of(task, a[None])[0]), float(metric_of(task, b[None])[0])
    p = mcnemar(a[:, 0], b[:, 0]) if task in ("classify", "pair") else None
    return Comparison(name_a, name_b, metric, value_a, value_b, float(np.percentile(d, 2.5)),
                      float(np.percentile(d, 97.5)), p)


def mcnemar(a: np.ndarray, b: np.ndarray) -> float:
    """Exact two-sided McNemar p-value over the examples exactly one model gets right."""
    only_a = int(((a == 1) & (b == 0)).sum())
    only_b = int(((a == 0) & (b == 1)).sum())
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    # integer arithmetic: 2**n overflows a float past n = 1023 discordant examples
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, 2 * tail / (1 << n))
