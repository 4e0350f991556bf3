"""``t5``: span corruption for T5 pre-training (Raffel et al. 2020) from a corpus of one document
per line (UER-py's ``t5`` reads the ``mlm`` corpus). The vocabulary needs sentinel tokens
``<extra_id_0>``, ``<extra_id_1>``, ... (``uer_ray.tokenizers.sentinels``)."""

from __future__ import annotations

import numpy as np

from uer_ray.data.instances import cut_windows
from uer_ray.data.noising import span_corruption, span_window
from uer_ray.data.processors.base import (
    PROCESSORS,
    Processor,
    ProcessorConfig,
    one_vocabulary,
    source_target_table,
)
from uer_ray.errors import OptionsError
from uer_ray.tokenizers import Tokenizer
from uer_ray.tokenizers.sentinels import require_sentinels


@PROCESSORS.register("t5")
class T5Processor(Processor):
    """Documents are cut into windows (with ``pack``, one stream of documents joined by
    ``[SEP]``, as ``mlm`` packs them; otherwise each document on its own), each window corrupted
    by ``noising.span_corruption``: ``input_ids`` = [CLS] source [SEP] with a sentinel in place of
    each span, ``tgt_ids`` = [CLS] <extra_id_0> span0 <extra_id_1> span1 ... <extra_id_k> [SEP].
    ``span_density`` (0.15) and ``span_length`` (3) are the T5 paper's. The window is the longest
    whose source fits ``seq_length`` (so it is longer than ``seq_length``: 567 tokens for 512, as
    T5 cuts 568) and whose target fits ``tgt_seq_length`` (default ``seq_length``) with enough
    sentinels; putting the spans back at their sentinels gives the window again."""

    columns = ("input_ids", "segment_ids", "tgt_ids")
    line_format = "one document"

    def __init__(self, tokenizer: Tokenizer, config: ProcessorConfig, tgt_tokenizer: Tokenizer | None = None):
        one_vocabulary(self.name, config, tokenizer, tgt_tokenizer)
        super().__init__(tokenizer, config, tgt_tokenizer)
        self.sentinels = require_sentinels(tokenizer, self.name)
        tgt_length = config.tgt_seq_length or config.seq_length
        self.window = span_window(config.seq_length, tgt_length, len(self.sentinels),
                                  config.span_density, config.span_length)
        if self.window == 0:
            raise OptionsError(f"--tgt-seq-length {tgt_length} is too short for a t5 target "
                               "([CLS] sentinel span sentinel [SEP]: at least 5)")

    def process(self, path, lines, line_nos, rng, skips):
        flat, offsets = self._documents(path, lines, line_nos, skips)
        doc_off = np.append(offsets[:-1][np.diff(offsets) > 0], offsets[-1])  # token-less ones out
        if self.config.pack and len(doc_off) > 2:
            flat = np.insert(flat, doc_off[1:-1], self.sep_id).astype(np.int32)
            doc_off = np.asarray([0, len(flat)], dtype=np.int64)
        sources, targets = [], []
        for start, end in cut_windows(doc_off, self.window, self.config.pack):
            src, tgt = span_corruption(flat[start:end], self.sentinels, self.config.span_density,
                                       self.config.span_length, rng)
            sources.append(np.concatenate([[self.cls_id], src, [self.sep_id]]))
            targets.append(np.concatenate([[self.cls_id], tgt, [self.sep_id]]))
        return source_target_table(sources, targets)
