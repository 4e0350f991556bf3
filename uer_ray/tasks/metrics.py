"""Downstream metrics, written out so that each can be checked by hand.

- classification: accuracy, confusion matrix, per-label precision/recall/F1, macro F1;
- sequence labelling: entity-level precision/recall/F1 counted the way CoNLL's ``conlleval``
  script counts them (a predicted entity is correct only when type, start and end all match);
- DBQA ranking: MAP and MRR over candidates grouped by question (UER paper, Table 4);
- regression: Pearson and Spearman correlation (ties get their average rank).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence


def _prf(correct: int, predicted: int, gold: int) -> dict[str, float]:
    p = correct / predicted if predicted else 0.0
    r = correct / gold if gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f}


def classification_metrics(gold: Sequence[int], pred: Sequence[int], labels: Sequence[str]) -> dict:
    """Accuracy, confusion matrix (rows gold, columns predicted, in ``labels`` order),
    per-label precision/recall/F1/support and their unweighted mean (macro F1)."""
    n = len(labels)
    confusion = [[0] * n for _ in range(n)]
    for g, p in zip(gold, pred, strict=True):
        confusion[g][p] += 1
    total = len(gold)
    correct = sum(confusion[i][i] for i in range(n))
    per_label = {}
    for i, name in enumerate(labels):
        predicted = sum(confusion[r][i] for r in range(n))
        support = sum(confusion[i])
        per_label[name] = {**_prf(confusion[i][i], predicted, support), "support": support}
    return {
        "accuracy": correct / total if total else 0.0,
        "macro_f1": sum(v["f1"] for v in per_label.values()) / n if n else 0.0,
        "count": total,
        "labels": list(labels),
        "confusion": confusion,
        "per_label": per_label,
    }


def _split_tag(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', ''); a bare 'B' -> ('B', '')."""
    if tag == "O" or not tag:
        return "O", ""
    prefix, _, kind = tag.partition("-")
    return prefix, kind


def _chunk_end(prev_p: str, prev_t: str, p: str, t: str) -> bool:
    """conlleval's endOfChunk: does a chunk end between the previous tag and this one?"""
    if prev_p in ("E", "S"):
        return True
    if prev_p in ("B", "I"):
        return p in ("B", "S", "O") or t != prev_t
    return False


def _chunk_start(prev_p: str, prev_t: str, p: str, t: str) -> bool:
    """conlleval's startOfChunk: does a chunk start at this tag?"""
    if p in ("B", "S"):
        return True
    if p in ("I", "E"):
        return prev_p in ("E", "S", "O") or t != prev_t
    return False


def entity_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """The entities in a BIO (or BIOES) tag sequence as (type, start, end-exclusive).

    An ``I-X`` that follows ``O`` or another type starts a new entity, as in conlleval.
    """
    spans = []
    start, kind = None, ""
    prev_p, prev_t = "O", ""
    for i, tag in enumerate(list(tags) + ["O"]):
        p, t = _split_tag(tag)
        if start is not None and _chunk_end(prev_p, prev_t, p, t):
            spans.append((kind, start, i))
            start = None
        if _chunk_start(prev_p, prev_t, p, t):
            start, kind = i, t
        prev_p, prev_t = p, t
    return spans


def entity_metrics(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict:
    """Entity-level micro precision/recall/F1 over sentences, plus the same per entity type,
    and token accuracy. Each pair of sequences must have the same length."""
    counts = defaultdict(lambda: [0, 0, 0])  # type -> [correct, predicted, gold]
    tokens = right = 0
    for g_tags, p_tags in zip(gold, pred, strict=True):
        if len(g_tags) != len(p_tags):
            raise ValueError(f"gold has {len(g_tags)} tags, prediction {len(p_tags)}")
        g_spans, p_spans = set(entity_spans(g_tags)), set(entity_spans(p_tags))
        for kind, *_ in g_spans:
            counts[kind][2] += 1
        for span in p_spans:
            counts[span[0]][1] += 1
            counts[span[0]][0] += span in g_spans
        tokens += len(g_tags)
        right += sum(a == b for a, b in zip(g_tags, p_tags, strict=True))
    total = [sum(c[i] for c in counts.values()) for i in range(3)]
    per_type = {k: {**_prf(*c), "support": c[2]} for k, c in sorted(counts.items())}
    return {
        **_prf(*total),
        "gold_entities": total[2],
        "predicted_entities": total[1],
        "correct_entities": total[0],
        "token_accuracy": right / tokens if tokens else 0.0,
        "per_type": per_type,
    }


def ranking_metrics(qids: Sequence[str], gold: Sequence[int], scores: Sequence[float]) -> dict:
    """MAP and MRR for answer selection: candidates grouped by ``qids``, ranked by ``scores``
    (higher first), relevant where ``gold`` is 1. Questions without a relevant candidate have
    no defined precision and are left out (their number is reported)."""
    groups: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for q, g, s in zip(qids, gold, scores, strict=True):
        groups[q].append((s, g))
    ap_sum = rr_sum = 0.0
    used = 0
    for cands in groups.values():
        # Stable sort: ties keep file order, so results do not depend on hashing.
        ranked = [g for _, g in sorted(cands, key=lambda c: -c[0])]
        if not any(ranked):
            continue
        used += 1
        hits, precisions = 0, []
        for rank, g in enumerate(ranked, start=1):
            if g:
                hits += 1
                precisions.append(hits / rank)
        ap_sum += sum(precisions) / hits
        rr_sum += 1.0 / (ranked.index(1) + 1)
    return {
        "map": ap_sum / used if used else 0.0,
        "mrr": rr_sum / used if used else 0.0,
        "questions": used,
        "questions_without_answer": len(groups) - used,
    }


def _ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks; tied values all get the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson's r; 0.0 when either side is constant (the correlation is undefined)."""
    n = len(x)
    if n != len(y):
        raise ValueError(f"{n} values against {len(y)}")
    if n == 0:
        return 0.0
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else 0.0


def regression_metrics(gold: Sequence[float], pred: Sequence[float]) -> dict:
    """Pearson, Spearman (Pearson of average ranks) and mean squared error."""
    n = len(gold)
    mse = sum((a - b) ** 2 for a, b in zip(gold, pred, strict=True)) / n if n else 0.0
    return {
        "pearson": pearson(gold, pred),
        "spearman": pearson(_ranks(gold), _ranks(pred)),
        "mse": mse,
        "count": n,
    }
