"""``skipthought``: sentence triples for Skip-thoughts (Kiros et al., 2015) from a corpus of one
sentence per line with a blank line between documents (the ``bert`` corpus format).

Every sentence with a neighbour on both sides inside its document gives one instance: itself
as the encoder input and its two neighbours as the sequences the ``skipthought`` target
decodes. A document's first and last sentences appear only as neighbours, so a document of
fewer than three sentences gives nothing. No randomness: the same lines give the same rows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from uer_ray.data.instances import list_column, rows_to_flat, segment_column
from uer_ray.data.processors.base import PROCESSORS, Processor, split_documents, wrap_ids


@PROCESSORS.register("skipthought")
class SkipthoughtProcessor(Processor):
    """Sentence i of a document → ``input_ids`` = [CLS] s_i [SEP] (at most ``seq_length``),
    ``segment_ids`` all 1, ``prev_ids`` = [CLS] s_i-1 [SEP] and ``next_ids`` = [CLS] s_i+1 [SEP]
    (at most ``tgt_seq_length``, default ``seq_length``); longer sentences lose their end."""

    line_format = "one sentence, blank lines between documents"
    by_document = True
    columns = ("input_ids", "segment_ids", "prev_ids", "next_ids")

    def process(self, path, lines, line_nos, rng, skips):
        docs = split_documents(path, lines, line_nos, self.tok, skips)
        limit, neighbour_limit = self.config.seq_length, self.config.tgt_seq_length or self.config.seq_length
        wrapped = {"input_ids": [], "prev_ids": [], "next_ids": []}
        for doc in docs:
            for i in range(1, len(doc) - 1):
                wrapped["input_ids"].append(self._wrap(doc[i], limit))
                wrapped["prev_ids"].append(self._wrap(doc[i - 1], neighbour_limit))
                wrapped["next_ids"].append(self._wrap(doc[i + 1], neighbour_limit))
        columns = {}
        for name, rows in wrapped.items():
            values, offsets = rows_to_flat(rows)
            columns[name] = list_column(values, offsets)
            if name == "input_ids":
                columns["segment_ids"] = segment_column(offsets)
        return pa.table({name: columns[name] for name in self.columns})

    def _wrap(self, ids: np.ndarray, limit: int) -> np.ndarray:
        return wrap_ids(self.cls_id, ids, self.sep_id, limit)
