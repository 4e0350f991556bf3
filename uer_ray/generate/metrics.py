"""Text-generation quality metrics, in pure Python.

- BLEU: corpus-level BLEU (Papineni et al., 2002, "BLEU: a Method for Automatic Evaluation
  of Machine Translation"): clipped n-gram precisions summed over the corpus, their geometric
  mean and a brevity penalty; optional add-one smoothing for n >= 2 (Lin & Och, 2004).
- ROUGE-L: mean sentence F-measure from the longest common subsequence (Lin, 2004, "ROUGE:
  A Package for Automatic Evaluation of Summaries").
- Exact match: share of hypotheses equal to a reference after whitespace normalisation.

All scores are 0-100. Text containing CJK characters (Chinese, Japanese, Korean) is scored per
character; other text per whitespace-separated word (see `units`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

# CJK Unified Ideographs (+ extension A, compatibility), CJK punctuation, full-width forms,
# Hiragana, Katakana and Hangul (jamo, compatibility jamo, syllables).
_CJK = ("\u1100-\u11ff\u3000-\u303f\u3040-\u309f\u30a0-\u30ff\u3130-\u318f\u3400-\u4dbf"
        "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef")
_CJK_RE = re.compile(f"[{_CJK}]")
_CJK_GAP_RE = re.compile(f"(?<=[{_CJK}]) (?=[{_CJK}])")

References = Sequence[str] | Sequence[Sequence[str]]


def units(text: str, level: str = "auto") -> list[str]:
    """The units a metric counts: "char" (non-space characters), "word" (whitespace-split
    tokens, case kept) or "auto" (characters if `text` contains CJK characters, else words)."""
    if level == "auto":
        level = "char" if _CJK_RE.search(text) else "word"
    if level == "char":
        return [ch for ch in text if not ch.isspace()]
    if level == "word":
        return text.split()
    raise ValueError(f"level must be 'auto', 'char' or 'word', got {level!r}")


def _pairs(hypotheses: Sequence[str], references: References) -> list[tuple[str, list[str]]]:
    """Checks the corpus and gives (hypothesis, [references...]) per sentence."""
    if isinstance(hypotheses, str) or isinstance(references, str):
        raise ValueError("hypotheses and references must be lists, not a single string")
    if len(hypotheses) == 0:
        raise ValueError("empty corpus: no hypotheses to score")
    if len(hypotheses) != len(references):
        raise ValueError(f"got {len(hypotheses)} hypotheses but {len(references)} references")
    pairs = []
    for i, (hyp, ref) in enumerate(zip(hypotheses, references, strict=True)):
        refs = [ref] if isinstance(ref, str) else list(ref)
        if not refs:
            raise ValueError(f"hypothesis {i} has an empty list of references")
        pairs.append((hyp, refs))
    return pairs


def _tokenize(hyp: str, refs: list[str], level: str) -> tuple[list[str], list[list[str]]]:
    # "auto" is decided per sentence pair, so hypothesis and references use the same units.
    if level == "auto":
        level = "char" if any(_CJK_RE.search(t) for t in [hyp, *refs]) else "word"
    return units(hyp, level), [units(r, level) for r in refs]


def _ngrams(tokens: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def bleu(hypotheses: Sequence[str], references: References, level: str = "auto",
         max_n: int = 4, smooth: bool = False) -> float:
    """Corpus BLEU (0-100); `references` holds one string or a list of strings per hypothesis."""
    if max_n < 1:
        raise ValueError(f"max_n must be at least 1, got {max_n}")
    matches, totals = [0] * max_n, [0] * max_n
    hyp_len = ref_len = 0
    for hyp, refs in _pairs(hypotheses, references):
        h, rs = _tokenize(hyp, refs, level)
        hyp_len += len(h)
        # Effective reference length: the closest to the hypothesis, the shorter on a tie.
        ref_len += min((len(r) for r in rs), key=lambda n: (abs(n - len(h)), n))
        for n in range(1, max_n + 1):
            counts = _ngrams(h, n)
            max_ref: Counter[tuple[str, ...]] = Counter()
            for r in rs:
                max_ref |= _ngrams(r, n)  # element-wise maximum over the references
            matches[n - 1] += sum(min(c, max_ref[g]) for g, c in counts.items())
            totals[n - 1] += sum(counts.values())
    if hyp_len == 0:
        return 0.0
    log_sum = 0.0
    for n, (m, t) in enumerate(zip(matches, totals, strict=True), start=1):
        if smooth and n >= 2:
            m, t = m + 1, t + 1
        if m == 0:
            return 0.0
        log_sum += math.log(m / t)
    bp = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return 100 * bp * math.exp(log_sum / max_n)


def _lcs(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence: O(len(a)*len(b)) time, O(min) memory."""
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            cur[j] = prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1])
        prev = cur
    return prev[-1]


def _f_lcs(h: list[str], r: list[str], beta: float) -> float:
    lcs = _lcs(h, r)
    if lcs == 0:
        return 0.0
    p, rec = lcs / len(h), lcs / len(r)
    return (1 + beta**2) * p * rec / (rec + beta**2 * p)


def rouge_l(hypotheses: Sequence[str], references: References, level: str = "auto",
            beta: float = 1.2) -> float:
    """Mean sentence ROUGE-L F-measure (0-100); with several references the best one counts."""
    scores = []
    for hyp, refs in _pairs(hypotheses, references):
        h, rs = _tokenize(hyp, refs, level)
        scores.append(max(_f_lcs(h, r, beta) for r in rs))
    return 100 * sum(scores) / len(scores)


def _normalise(text: str) -> str:
    """Strips, collapses whitespace runs to one space, drops spaces between CJK characters."""
    return _CJK_GAP_RE.sub("", " ".join(text.split()))


def exact_match(hypotheses: Sequence[str], references: References) -> float:
    """Percentage of hypotheses equal to (any of) their reference(s) after normalisation."""
    pairs = _pairs(hypotheses, references)
    hits = sum(_normalise(h) in {_normalise(r) for r in refs} for h, refs in pairs)
    return 100 * hits / len(pairs)


METRICS: dict[str, Callable[..., float]] = {
    "bleu": bleu,
    "rouge_l": rouge_l,
    "exact_match": exact_match,
}


def score_all(hypotheses: Sequence[str], references: References,
              level: str = "auto") -> dict[str, float]:
    """Every metric in METRICS, by name (exact match ignores `level`)."""
    return {name: fn(hypotheses, references) if name == "exact_match"
            else fn(hypotheses, references, level=level) for name, fn in METRICS.items()}
