"""The noising functions of the denoising processors (``t5``, ``bart``, ``gsg``) on one
instance's token ids, and the sentence gathering that ``bart`` and ``gsg`` share. Each takes a
seeded ``numpy.random.Generator``: the same ids and generator state give the same result.

- ``span_corruption`` (T5, Raffel et al. 2020): random spans replaced by sentinels;
- ``permute_sentences``, ``delete_tokens``, ``infill`` (BART, Lewis et al. 2020, §2.2);
- ``select_gaps`` (PEGASUS, Zhang et al. 2020: gap sentences, Lead or Random selection).
"""

from __future__ import annotations

import numpy as np


# -- T5 span corruption ------------------------------------------------------------------------
def span_counts(n: int, density: float, mean_length: float) -> tuple[int, int]:
    """(corrupted tokens, spans) for a window of ``n >= 2`` tokens, as T5's
    ``random_spans_noise_mask`` counts them: round(n * density) tokens, at least 1 and at most
    n - 1, in round(tokens / mean_length) spans, at least 1 and no more than there are kept
    tokens (each span follows a kept stretch)."""
    noise = min(max(int(round(n * density)), 1), n - 1)
    spans = max(int(round(noise / mean_length)), 1)
    return noise, min(spans, noise, n - noise)


def span_window(seq_length: int, tgt_seq_length: int, sentinels: int, density: float,
                mean_length: float) -> int:
    """The longest window of document tokens whose corrupted source ``[CLS] kept tokens and a
    sentinel per span [SEP]`` fits ``seq_length`` and whose target ``[CLS] (sentinel span)...
    sentinel [SEP]`` fits ``tgt_seq_length``, with enough sentinels (T5 likewise cuts 568-token
    windows for 512-token inputs); 0 when not even a 2-token window fits."""
    # both lengths grow with n (noise grows by at most one token per token): the first fit
    # from above is the longest
    for n in range(int(seq_length / (1 - density)) + 2, 1, -1):
        noise, spans = span_counts(n, density, mean_length)
        if (n - noise + spans + 2 <= seq_length and noise + spans + 3 <= tgt_seq_length
                and spans + 1 <= sentinels):
            return n
    return 0


def _segments(total: int, parts: int, rng: np.random.Generator) -> np.ndarray:
    """``parts`` positive lengths summing to ``total``, uniformly among such splits."""
    cuts = np.sort(rng.choice(total - 1, parts - 1, replace=False)) + 1 if parts > 1 else np.zeros(0, np.int64)
    return np.diff(np.concatenate([[0], cuts, [total]]))


def span_corruption(ids: np.ndarray, sentinels: list[int], density: float, mean_length: float,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """T5's span corruption of ``ids`` (at least 2 tokens): ``span_counts`` spans of random
    lengths alternate with kept stretches of random lengths. The source keeps the kept tokens
    and has ``sentinels[k]`` in place of span k; the target is ``sentinels[k]`` followed by span
    k for every span, then the next sentinel to close it (as T5 and UER-py end their targets).

    T5's mask always ends in a span; here the window begins with a span or with a kept stretch
    with equal chance, so both ends of a window are corrupted as often."""
    n = len(ids)
    noise, spans = span_counts(n, density, mean_length)
    noise_lens = _segments(noise, spans, rng)
    keep_lens = _segments(n - noise, spans, rng)
    first_noise = bool(rng.random() < 0.5)
    src, tgt, pos = [], [], 0
    for k in range(spans):
        pair = ((noise_lens[k], True), (keep_lens[k], False))
        for length, is_noise in (pair if first_noise else pair[::-1]):
            piece = ids[pos:pos + length]
            if is_noise:
                src.append([sentinels[k]])
                tgt += [[sentinels[k]], piece]
            else:
                src.append(piece)
            pos += length
    tgt.append([sentinels[spans]])
    return _join(src), _join(tgt)


def _join(pieces: list) -> np.ndarray:
    return np.concatenate([np.asarray(p, dtype=np.int32) for p in pieces]) if pieces else np.zeros(0, np.int32)


# -- BART noising --------------------------------------------------------------------------------
def permute_sentences(sentences: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Sentence permutation: the same sentences in a random order."""
    return [sentences[i] for i in rng.permutation(len(sentences))]


def delete_tokens(ids: np.ndarray, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Token deletion: round(len * ratio) tokens at random positions removed (at least one token
    stays); the rest keep their order."""
    n = len(ids)
    drop = min(int(round(n * ratio)), n - 1)
    if drop <= 0:
        return ids
    keep = np.ones(n, dtype=bool)
    keep[rng.choice(n, drop, replace=False)] = False
    return ids[keep]


def infill(ids: np.ndarray, ratio: float, lam: float, mask_id: int, rng: np.random.Generator,
           limit: int) -> np.ndarray:
    """Text infilling: span lengths are drawn from Poisson(``lam``) until they cover
    round(len * ratio) tokens (the last one shortened to fit); each span becomes ONE mask
    token, a 0-length span inserts a mask. Spans sit in distinct gaps between the kept tokens,
    so no two are adjacent and every mask stands for exactly one span. Inserted masks that would
    take the result over ``limit`` tokens are left out, and so are spans beyond the number of
    gaps (their tokens go to the last span kept)."""
    n = len(ids)
    total = int(round(n * ratio))
    if total <= 0 or n == 0:
        return ids
    lengths: list[int] = []
    covered = 0
    while covered < total:
        draw = rng.poisson(lam, size=max(8, int(2 * (total - covered) / lam) + 1))
        for x in draw.tolist():
            lengths.append(min(x, total - covered))
            covered += lengths[-1]
            if covered >= total:
                break
    lengths_arr = np.asarray(lengths, dtype=np.int64)
    nonzero = lengths_arr[lengths_arr > 0]
    gaps = n - total + 1
    if len(nonzero) > gaps:  # more spans than gaps (a tiny text or a ratio near 1): merge the last
        nonzero = np.concatenate([nonzero[:gaps - 1], [nonzero[gaps - 1:].sum()]])
    room = min(limit - (n - total + len(nonzero)), gaps - len(nonzero))  # masks that may be inserted
    zeros = min(int((lengths_arr == 0).sum()), max(room, 0))
    spans = np.concatenate([nonzero, np.zeros(zeros, dtype=np.int64)])
    spans = spans[rng.permutation(len(spans))]
    where = np.sort(rng.choice(gaps, len(spans), replace=False))  # kept tokens before each span
    starts = where + np.concatenate([[0], np.cumsum(spans)[:-1]])
    masked = np.zeros(n, dtype=bool)
    covered_idx = np.repeat(starts, spans) + (np.arange(int(spans.sum()))
                                              - np.repeat(np.cumsum(spans) - spans, spans))
    masked[covered_idx] = True
    return np.insert(ids[~masked], where, mask_id).astype(np.int32)


# -- sentences of a document -----------------------------------------------------------------------
def gather_sentences(doc: list[np.ndarray], limit: int) -> list[list[np.ndarray]]:
    """Consecutive sentences of one document grouped into instances of at most ``limit`` tokens
    (a new group starts where the next sentence would not fit); a sentence longer than
    ``limit`` is cut into pieces of ``limit`` tokens, each a sentence of its own."""
    groups: list[list[np.ndarray]] = []
    current: list[np.ndarray] = []
    size = 0
    for sentence in doc:
        for k in range(0, len(sentence), limit):
            piece = sentence[k:k + limit]
            if current and size + len(piece) > limit:
                groups.append(current)
                current, size = [], 0
            current.append(piece)
            size += len(piece)
    if current:
        groups.append(current)
    return groups


# -- PEGASUS gap sentences -------------------------------------------------------------------------
def select_gaps(count: int, ratio: float, selection: str, rng: np.random.Generator) -> np.ndarray:
    """Indices (sorted) of the gap sentences among ``count >= 2``: round(count * ratio) of them,
    at least one and leaving at least one; ``lead`` takes the first ones, ``random`` any."""
    m = min(max(int(round(count * ratio)), 1), count - 1)
    if selection == "lead":
        return np.arange(m)
    return np.sort(rng.choice(count, m, replace=False))
