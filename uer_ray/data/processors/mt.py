"""``mt``: ``source<TAB>target`` rows for translation pre-training (CoVe, McCann et al., 2017).
Malformed rows (missing tab, wrong column count, empty field) are skipped and counted."""

from __future__ import annotations

from uer_ray.data.processors.base import (
    PROCESSORS,
    Processor,
    source_target_table,
    split_rows,
    wrap_ids,
)


@PROCESSORS.register("mt")
class MtProcessor(Processor):
    """``source<TAB>target`` → ``input_ids`` = [CLS] source [SEP], ``tgt_ids`` = [CLS] target [SEP]
    (target ids from the target tokenizer, which may differ from the source one)."""

    columns = ("input_ids", "segment_ids", "tgt_ids")
    supervised = True
    line_format = "source<TAB>target"

    def process(self, path, lines, line_nos, rng, skips):
        rows, _ = split_rows(path, lines, line_nos, skips, (2,))
        src, src_off = self.tok.encode_flat([r[0] for r in rows])
        tgt, tgt_off = self.tgt_tok.encode_flat([r[1] for r in rows])
        t_len = self.config.tgt_seq_length or self.config.seq_length
        t_cls, t_sep = self.tgt_tok.cls_id, self.tgt_tok.sep_id
        inputs = [wrap_ids(self.cls_id, src[a:b], self.sep_id, self.config.seq_length)
                  for a, b in zip(src_off[:-1], src_off[1:], strict=True)]
        targets = [wrap_ids(t_cls, tgt[a:b], t_sep, t_len) for a, b in zip(tgt_off[:-1], tgt_off[1:], strict=True)]
        return source_target_table(inputs, targets)
