"""``sop``: MLM + sentence-order prediction instances (ALBERT, Lan et al., 2020) from a corpus of
one sentence per line with a blank line between documents; A and B are consecutive and swapped
half of the time (``is_next`` 0)."""

from __future__ import annotations

from uer_ray.data.processors.base import PROCESSORS, PairProcessor, join_ids


@PROCESSORS.register("sop")
class SopProcessor(PairProcessor):
    """MLM + sentence-order prediction: A and B are consecutive; swapped half of the time."""

    columns = ("input_ids", "segment_ids", "is_next")

    def _make_pair(self, docs, d, chunk, a_end, target, rng):
        if len(chunk) == 1:  # one long sentence: split it at a random token
            s = chunk[0]
            if len(s) < 2:
                return None
            cut = int(rng.integers(1, len(s)))
            a, b = s[:cut], s[cut:]
        else:
            a, b = join_ids(chunk[:a_end]), join_ids(chunk[a_end:])
        if rng.random() < 0.5:
            return b, a, 0, 0
        return a, b, 1, 0
