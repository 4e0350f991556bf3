"""``prefixlm``: ``prefix<TAB>target`` rows for a prefix language model (UniLM, Dong et al. 2019;
UER-py's ``prefixlm``): the prefix is read with full attention, the target left to right.
Malformed rows (missing tab, wrong column count, empty field) are skipped and counted."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from uer_ray.data.instances import list_column, rows_to_flat, segment_column
from uer_ray.data.processors.base import PROCESSORS, Processor, fit_pair, split_rows


@PROCESSORS.register("prefixlm")
class PrefixlmProcessor(Processor):
    """``prefix<TAB>target`` → ``input_ids`` = [CLS] prefix [SEP] target [SEP], ``segment_ids``
    1 on ``[CLS] prefix [SEP]`` and 2 on ``target [SEP]`` (the positions the ``prefixlm`` target
    predicts). A pair longer than ``seq_length`` loses tokens from the end of its longer part
    (BERT's pair truncation); UER-py instead drops rows whose prefix fills the sequence."""

    columns = ("input_ids", "segment_ids")
    supervised = True
    line_format = "prefix<TAB>target"

    def process(self, path, lines, line_nos, rng, skips):
        rows, _ = split_rows(path, lines, line_nos, skips, (2,))
        a, a_off = self.tok.encode_flat([r[0] for r in rows])
        b, b_off = self.tok.encode_flat([r[1] for r in rows])
        out, first = [], []
        for i in range(len(rows)):
            pa_ids, pb_ids = a[a_off[i]:a_off[i + 1]], b[b_off[i]:b_off[i + 1]]
            na, nb = fit_pair(len(pa_ids), len(pb_ids), self.config.seq_length - 3)
            out.append(np.concatenate([[self.cls_id], pa_ids[:na], [self.sep_id], pb_ids[:nb], [self.sep_id]]))
            first.append(na + 2)
        values, offsets = rows_to_flat(out)
        return pa.table({
            "input_ids": list_column(values, offsets),
            "segment_ids": segment_column(offsets, np.asarray(first, dtype=np.int64)),
        })
