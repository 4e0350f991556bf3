"""``gsg``: gap-sentence generation for PEGASUS (Zhang et al. 2020) from a corpus of one sentence
per line with a blank line between documents (UER-py's ``gsg`` reads the ``bert`` corpus)."""

from __future__ import annotations

import numpy as np

from uer_ray.data.noising import gather_sentences, select_gaps
from uer_ray.data.processors.base import (
    PROCESSORS,
    Processor,
    ProcessorConfig,
    join_ids,
    one_vocabulary,
    source_target_table,
    split_documents,
    wrap_ids,
)
from uer_ray.tokenizers import Tokenizer


@PROCESSORS.register("gsg")
class GsgProcessor(Processor):
    """Consecutive sentences of a document are gathered into instances of at most
    ``seq_length - 2`` tokens (a longer sentence is cut into pieces); in each, ``gap_ratio``
    (0.3) of the sentences, at least one and never all, are chosen by ``gap_selection``
    (``lead``: the first ones, ``random``: any). ``input_ids`` = [CLS] the sentences with one
    [MASK] in place of each chosen one (PEGASUS's MASK1) [SEP]; ``tgt_ids`` = [CLS] the chosen
    sentences in document order [SEP], cut at ``tgt_seq_length`` (default ``seq_length``).
    An instance of one sentence (a one-sentence document, or a piece of a long sentence that
    stands alone) gives nothing. PEGASUS's ``principal`` (ROUGE) selection and its extra MLM on
    the unselected sentences are not implemented."""

    columns = ("input_ids", "segment_ids", "tgt_ids")
    line_format = "one sentence, blank lines between documents"
    by_document = True

    def __init__(self, tokenizer: Tokenizer, config: ProcessorConfig, tgt_tokenizer: Tokenizer | None = None):
        one_vocabulary(self.name, config, tokenizer, tgt_tokenizer)
        super().__init__(tokenizer, config, tgt_tokenizer)
        self.mask_id = tokenizer.mask_id

    def process(self, path, lines, line_nos, rng, skips):
        c = self.config
        tgt_length = c.tgt_seq_length or c.seq_length
        mask = np.asarray([self.mask_id], dtype=np.int32)
        sources, targets = [], []
        for doc in split_documents(path, lines, line_nos, self.tok, skips):
            for group in gather_sentences(doc, c.seq_length - 2):
                if len(group) < 2:
                    continue
                gaps = set(select_gaps(len(group), c.gap_ratio, c.gap_selection, rng).tolist())
                source = join_ids([mask if i in gaps else s for i, s in enumerate(group)])
                sources.append(np.concatenate([[self.cls_id], source, [self.sep_id]]))
                targets.append(wrap_ids(self.cls_id, join_ids([group[i] for i in sorted(gaps)]),
                                        self.sep_id, tgt_length))
        return source_target_table(sources, targets)
