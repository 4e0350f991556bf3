"""Sentence-pair processors over a corpus of one sentence per line with a blank line between
documents: ``bert`` (MLM + next-sentence prediction, Devlin et al., 2019) and ``sop`` (MLM +
sentence-order prediction, ALBERT, Lan et al., 2020).

Instances follow BERT's ``create_pretraining_data``: sentences of a document are gathered until
a target length (``seq_length - 3``, or with ``short_seq_prob`` a random shorter one) is reached,
split at a random sentence into A and B; for ``bert`` B is, half of the time, a random stretch
of another document; for ``sop`` A and B are swapped half of the time. The pair is trimmed from
the longer side, at a random end, to fit. Rows: ``[CLS] A [SEP] B [SEP]``, segments 1/2, and
``is_next`` (1 = real next segment / right order).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from uer_ray.data.instances import list_column, rows_to_flat, segment_column
from uer_ray.data.processors import PROCESSORS, Processor


def _split_documents(path, lines, line_nos, tok, skips) -> list[list[np.ndarray]]:
    """Blank-line-separated documents, each a list of sentence id arrays."""
    flat, offsets = tok.encode_flat([t if t.strip() else "" for t in lines])
    docs: list[list[np.ndarray]] = [[]]
    for i, text in enumerate(lines):
        if not text.strip():
            if docs[-1]:
                docs.append([])
            continue
        ids = flat[offsets[i]:offsets[i + 1]]
        if len(ids) == 0:
            skips.add("no_tokens", path, line_nos[i])
        else:
            docs[-1].append(ids)
    return [d for d in docs if d]


def _trim_pair(a: np.ndarray, b: np.ndarray, limit: int, rng: np.random.Generator):
    """Drop tokens from the longer of ``a``/``b`` (front or back at random) until they fit."""
    excess = len(a) + len(b) - limit
    if excess <= 0:
        return a, b
    coins = rng.random(excess) < 0.5
    la, lb = len(a), len(b)
    cut = [[0, 0], [0, 0]]  # [side][front?]: tokens removed from a / b, back / front
    for front in coins.tolist():
        side = 0 if la > lb else 1
        cut[side][front] += 1
        if side == 0:
            la -= 1
        else:
            lb -= 1
    return a[cut[0][1]:len(a) - cut[0][0]], b[cut[1][1]:len(b) - cut[1][0]]


def _join(sentences: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(sentences) if sentences else np.zeros(0, np.int32)


class _PairProcessor(Processor):
    by_document = True
    columns = ("input_ids", "segment_ids", "is_next")

    def process(self, path, lines, line_nos, rng, skips):
        docs = _split_documents(path, lines, line_nos, self.tok, skips)
        rows, first_lens, labels = [], [], []
        for d in range(len(docs)):
            for a, b, is_next in self._document_pairs(docs, d, rng):
                rows.append(np.concatenate([[self.cls_id], a, [self.sep_id], b, [self.sep_id]]))
                first_lens.append(len(a) + 2)
                labels.append(is_next)
        values, offsets = rows_to_flat(rows)
        return pa.table({
            "input_ids": list_column(values, offsets),
            "segment_ids": segment_column(offsets, np.asarray(first_lens, dtype=np.int64)),
            "is_next": pa.array(np.asarray(labels, dtype=np.int8)),
        })

    def _target_length(self, rng) -> int:
        limit = self.config.seq_length - 3
        if rng.random() < self.config.short_seq_prob:
            return int(rng.integers(2, limit + 1))
        return limit

    def _document_pairs(self, docs, d, rng):
        """(A ids, B ids, is_next) pairs made from document ``d``."""
        doc, limit = docs[d], self.config.seq_length - 3
        target = self._target_length(rng)
        chunk, size, i = [], 0, 0
        while i < len(doc):
            chunk.append(doc[i])
            size += len(doc[i])
            if i == len(doc) - 1 or size >= target:
                if len(chunk) == 1 and i + 1 < len(doc):
                    # one sentence filled the target: take the next one too, so that B can be
                    # the real continuation (BERT's script would force a random B here, which
                    # on long-sentence corpora pushes is_next far below 50%)
                    i += 1
                    chunk.append(doc[i])
                a_end = 1 if len(chunk) < 2 else int(rng.integers(1, len(chunk)))
                pair = self._make_pair(docs, d, chunk, a_end, target, rng)
                if pair is not None:
                    a, b, is_next, unused = pair
                    i -= unused
                    a, b = _trim_pair(a, b, limit, rng)
                    if len(a) and len(b):
                        yield a, b, is_next
                chunk, size = [], 0
            i += 1

    def _make_pair(self, docs, d, chunk, a_end, target, rng):
        raise NotImplementedError


@PROCESSORS.register("bert")
class BertProcessor(_PairProcessor):
    """MLM + next-sentence prediction: B is the real continuation half of the time."""

    name = "bert"

    def _make_pair(self, docs, d, chunk, a_end, target, rng):
        a = _join(chunk[:a_end])
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
            b = _join(rand_doc[start:start + stop])
            return a, b, 0, len(chunk) - a_end  # unused sentences go back to the document
        return a, _join(chunk[a_end:]), 1, 0


@PROCESSORS.register("sop")
class SopProcessor(_PairProcessor):
    """MLM + sentence-order prediction: A and B are consecutive; swapped half of the time."""

    name = "sop"

    def _make_pair(self, docs, d, chunk, a_end, target, rng):
        if len(chunk) == 1:  # one long sentence: split it at a random token
            s = chunk[0]
            if len(s) < 2:
                return None
            cut = int(rng.integers(1, len(s)))
            a, b = s[:cut], s[cut:]
        else:
            a, b = _join(chunk[:a_end]), _join(chunk[a_end:])
        if rng.random() < 0.5:
            return b, a, 0, 0
        return a, b, 1, 0
