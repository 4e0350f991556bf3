"""``cls``: ``label<TAB>text`` or ``label<TAB>text_a<TAB>text_b`` rows for supervised pre-training
(InferSent, Conneau et al. 2017). Malformed rows (missing tab, wrong column count, empty field,
unknown or non-integer label) are skipped and counted; ``preprocess`` refuses a corpus where
most rows are malformed."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from uer_ray.data.instances import list_column, rows_to_flat, segment_column
from uer_ray.data.processors.base import PROCESSORS, Processor, fit_pair, split_rows


@PROCESSORS.register("cls")
class ClsProcessor(Processor):
    """``label<TAB>text`` or ``label<TAB>text_a<TAB>text_b`` → [CLS] a [SEP] (b [SEP]) + ``label``.
    Labels are integers, or names listed in ``ProcessorConfig.labels``. A first line whose label
    field is ``label`` is a header and skipped."""

    columns = ("input_ids", "segment_ids", "label")
    supervised = True
    line_format = "label<TAB>text[<TAB>text_b]"

    def _label(self, text: str) -> int | None:
        text = text.strip()
        if self.config.labels is not None:
            return self.config.labels.index(text) if text in self.config.labels else None
        return int(text) if text.isdigit() else None

    def process(self, path, lines, line_nos, rng, skips):
        if line_nos and line_nos[0] == 1 and lines[0].split("\t")[0].strip().lower() == "label":
            skips.add("header", path, 1)
            lines, line_nos = lines[1:], line_nos[1:]
        rows, nos = split_rows(path, lines, line_nos, skips, (2, 3))
        labels, kept = [], []
        for fields, no in zip(rows, nos, strict=True):
            label = self._label(fields[0])
            if label is None:
                skips.add("bad_label", path, no)
            else:
                labels.append(label)
                kept.append(fields)
        a, a_off = self.tok.encode_flat([f[1] for f in kept])
        b, b_off = self.tok.encode_flat([f[2] if len(f) == 3 else "" for f in kept])
        out, first = [], []
        L = self.config.seq_length
        for i, f in enumerate(kept):
            ta, tb = a[a_off[i]:a_off[i + 1]], b[b_off[i]:b_off[i + 1]]
            if len(f) == 3:
                na, nb = fit_pair(len(ta), len(tb), L - 3)
                ta, tb = ta[:na], tb[:nb]
                out.append(np.concatenate([[self.cls_id], ta, [self.sep_id], tb, [self.sep_id]]))
            else:
                out.append(np.concatenate([[self.cls_id], ta[: L - 2], [self.sep_id]]))
            first.append(len(ta) + 2)
        values, offsets = rows_to_flat(out)
        return pa.table({
            "input_ids": list_column(values, offsets),
            "segment_ids": segment_column(offsets, np.asarray(first, dtype=np.int64)),
            "label": pa.array(np.asarray(labels, dtype=np.int32)),
        })
