"""Processors over tab-separated rows: ``mt`` (``source<TAB>target``, CoVe-style translation
pre-training, McCann et al., 2017) and ``cls`` / ``cls_mlm`` (``label<TAB>text`` or
``label<TAB>text_a<TAB>text_b``, InferSent-style supervised pre-training; ``cls_mlm`` adds MLM at
collate time).

Malformed rows (missing tab, wrong column count, empty field, unknown or non-integer label) are
skipped and counted; ``preprocess`` refuses a corpus where most rows are malformed.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from uer_ray.data.instances import list_column, rows_to_flat, segment_column
from uer_ray.data.processors import PROCESSORS, Processor


def _split(path, lines, line_nos, skips, widths: tuple[int, ...]):
    """Rows of ``lines`` with a column count in ``widths``; the rest are logged."""
    rows, nos = [], []
    for text, no in zip(lines, line_nos, strict=True):
        if not text.strip():
            skips.add("empty", path, no)
            continue
        fields = text.split("\t")
        if len(fields) not in widths:
            skips.add("missing_tab" if len(fields) == 1 else "bad_columns", path, no)
        elif not all(f.strip() for f in fields):
            skips.add("empty_field", path, no)
        else:
            rows.append(fields)
            nos.append(no)
    return rows, nos


def _wrap(cls_id: int, ids: np.ndarray, sep_id: int, limit: int) -> np.ndarray:
    return np.concatenate([[cls_id], ids[: limit - 2], [sep_id]]).astype(np.int32)


def _fit_pair(la: int, lb: int, limit: int) -> tuple[int, int]:
    """Lengths after trimming the longer text (text_b on a tie) one token at a time, from its
    end, until both fit in ``limit`` (BERT's truncate_seq_pair), in closed form."""
    if la + lb <= limit:
        return la, lb
    if la <= (limit + 1) // 2 and la <= lb:
        return la, limit - la
    if lb <= limit // 2 and lb <= la:
        return limit - lb, lb
    return (limit + 1) // 2, limit // 2


@PROCESSORS.register("mt")
class MtProcessor(Processor):
    """``source<TAB>target`` → ``input_ids`` = [CLS] source [SEP], ``tgt_ids`` = [CLS] target [SEP]
    (target ids from the target tokenizer, which may differ from the source one)."""

    name = "mt"
    columns = ("input_ids", "segment_ids", "tgt_ids")
    supervised = True

    def process(self, path, lines, line_nos, rng, skips):
        rows, _ = _split(path, lines, line_nos, skips, (2,))
        src, src_off = self.tok.encode_flat([r[0] for r in rows])
        tgt, tgt_off = self.tgt_tok.encode_flat([r[1] for r in rows])
        t_len = self.config.tgt_seq_length or self.config.seq_length
        t_cls, t_sep = self.tgt_tok.cls_id, self.tgt_tok.sep_id
        inputs = [_wrap(self.cls_id, src[a:b], self.sep_id, self.config.seq_length)
                  for a, b in zip(src_off[:-1], src_off[1:], strict=True)]
        targets = [_wrap(t_cls, tgt[a:b], t_sep, t_len) for a, b in zip(tgt_off[:-1], tgt_off[1:], strict=True)]
        values, offsets = rows_to_flat(inputs)
        t_values, t_offsets = rows_to_flat(targets)
        return pa.table({
            "input_ids": list_column(values, offsets),
            "segment_ids": segment_column(offsets),
            "tgt_ids": list_column(t_values, t_offsets),
        })


@PROCESSORS.register("cls")
class ClsProcessor(Processor):
    """``label<TAB>text`` or ``label<TAB>text_a<TAB>text_b`` → [CLS] a [SEP] (b [SEP]) + ``label``.
    Labels are integers, or names listed in ``ProcessorConfig.labels``. A first line whose label
    field is ``label`` is a header and skipped."""

    name = "cls"
    columns = ("input_ids", "segment_ids", "label")
    supervised = True

    def _label(self, text: str) -> int | None:
        text = text.strip()
        if self.config.labels is not None:
            return self.config.labels.index(text) if text in self.config.labels else None
        return int(text) if text.isdigit() else None

    def process(self, path, lines, line_nos, rng, skips):
        if line_nos and line_nos[0] == 1 and lines[0].split("\t")[0].strip().lower() == "label":
            skips.add("header", path, 1)
            lines, line_nos = lines[1:], line_nos[1:]
        rows, nos = _split(path, lines, line_nos, skips, (2, 3))
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
                na, nb = _fit_pair(len(ta), len(tb), L - 3)
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


@PROCESSORS.register("cls_mlm")
class ClsMlmProcessor(ClsProcessor):
    """The ``cls`` instances, for a model trained with both ``cls`` and ``mlm`` targets."""

    name = "cls_mlm"
