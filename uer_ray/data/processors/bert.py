"""``bert``: MLM + next-sentence prediction instances (Devlin et al., 2019) from a corpus of one
sentence per line with a blank line between documents; B is, half of the time, a random
stretch of another document (``is_next`` 0)."""

from __future__ import annotations

import numpy as np

from uer_ray.data.processors.base import PROCESSORS, PairProcessor, join_ids


@PROCESSORS.register("bert")
class BertProcessor(PairProcessor):
    """MLM + next-sentence prediction: B is the real continuation half of the time."""

    columns = ("input_ids", "segment_ids", "is_next")

    def _make_pair(self, docs, d, chunk, a_end, target, rng):
        a = join_ids(chunk[:a_end])
        random_next = rng.random() < 0.5
        if len(chunk) == 1 and not random_next:
            if len(a) < 2:
                return None
            cut = int(rng.integers(1, len(a)))  # a lone sentence: its two halves are a real pair
            return a[:cut], a[cut:], 1, 0
        if random_next:
            other = d
            for _ in range(10):  # any other document of this chunk
                other = int(rng.integers(0, len(docs)))
                if other != d or len(docs) == 1:
                    break
            rand_doc = docs[other]
            start = int(rng.integers(0, len(rand_doc)))
            # sentences from `start` on, until B reaches the length left for it
            sizes = np.cumsum([len(x) for x in rand_doc[start:]])
            stop = int(np.searchsorted(sizes, target - len(a))) + 1
            b = join_ids(rand_doc[start:start + stop])
            return a, b, 0, len(chunk) - a_end  # unused sentences go back to the document
        return a, join_ids(chunk[a_end:]), 1, 0
