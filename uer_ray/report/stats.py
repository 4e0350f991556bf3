"""Is a difference between two configurations larger than the noise of the test set?

Both are scored on the same test examples, so the comparison is paired: per example a unit of
evidence (each task says which: ``Task.units``, e.g. 1/0 correct for accuracy, correct/predicted/
gold entity counts per sentence for F1, gold/predicted scores for Pearson), resampled with
replacement together for both models (paired bootstrap, Koehn 2004; Berg-Kirkpatrick et al.
2012). Where the first unit is 1/0 correct (``Task.exact_test``), McNemar's exact test on the
examples only one of the two gets right is reported too.
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


def compare(task, name_a: str, a: np.ndarray, name_b: str, b: np.ndarray, metric: str,
            seed: int = 0) -> Comparison:
    """Paired bootstrap 95% interval of metric(a) - metric(b) over the same examples; ``task``
    (a ``Task`` or its name) turns resampled units into the metric (``Task.metric_from_units``)."""
    if isinstance(task, str):
        from uer_ray.tasks import get_task

        task = get_task(task)
    if len(a) != len(b):
        raise ValueError(f"{name_a} and {name_b} were scored on different examples")
    rng = np.random.default_rng(seed)
    n = len(a)
    diffs = []
    for start in range(0, RESAMPLES, 250):  # in blocks: memory stays small for big test sets
        idx = rng.integers(0, n, size=(min(250, RESAMPLES - start), n))
        diffs.append(task.metric_from_units(a[idx]) - task.metric_from_units(b[idx]))
    d = np.concatenate(diffs)
    value_a, value_b = float(task.metric_from_units(a[None])[0]), float(task.metric_from_units(b[None])[0])
    p = mcnemar(a[:, 0], b[:, 0]) if task.exact_test else None
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
