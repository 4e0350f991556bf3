"""``bart``: denoising instances for BART (Lewis et al. 2020) from a corpus of one sentence per
line with a blank line between documents (UER-py's ``bart`` reads the ``bert`` corpus, and its
sentence permutation shuffles those lines)."""

from __future__ import annotations

import numpy as np

from uer_ray.data.noising import delete_tokens, gather_sentences, infill, permute_sentences
from uer_ray.data.processors.base import (
    PROCESSORS,
    Processor,
    ProcessorConfig,
    join_ids,
    one_vocabulary,
    source_target_table,
    split_documents,
)
from uer_ray.tokenizers import Tokenizer


@PROCESSORS.register("bart")
class BartProcessor(Processor):
    """Consecutive sentences of a document are gathered into instances of at most
    ``min(seq_length, tgt_seq_length) - 2`` tokens (a longer sentence is cut into pieces); the
    source is the instance noised by ``bart_noise``, in this order: ``permutation`` (its
    sentences shuffled), ``deletion`` (``mask_ratio`` of its tokens removed), ``infilling``
    (spans covering ``mask_ratio`` of its tokens, Poisson(``poisson_lambda``) long, each
    replaced by one [MASK]; a 0-length span inserts a [MASK]). ``input_ids`` = [CLS] source
    [SEP], ``tgt_ids`` = [CLS] original [SEP]. Defaults are BART's: infilling + permutation,
    30%, lambda 3."""

    columns = ("input_ids", "segment_ids", "tgt_ids")
    line_format = "one sentence, blank lines between documents"
    by_document = True

    def __init__(self, tokenizer: Tokenizer, config: ProcessorConfig, tgt_tokenizer: Tokenizer | None = None):
        one_vocabulary(self.name, config, tokenizer, tgt_tokenizer)
        super().__init__(tokenizer, config, tgt_tokenizer)
        self.mask_id = tokenizer.mask_id
        self.limit = min(config.seq_length, config.tgt_seq_length or config.seq_length) - 2

    def noise(self, sentences: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
        """The source of one instance (its sentences in order) before [CLS]/[SEP]."""
        c = self.config
        if "permutation" in c.bart_noise:
            sentences = permute_sentences(sentences, rng)
        ids = join_ids(sentences)
        if "deletion" in c.bart_noise:
            ids = delete_tokens(ids, c.mask_ratio, rng)
        if "infilling" in c.bart_noise:
            ids = infill(ids, c.mask_ratio, c.poisson_lambda, self.mask_id, rng, self.limit)
        return ids

    def process(self, path, lines, line_nos, rng, skips):
        sources, targets = [], []
        for doc in split_documents(path, lines, line_nos, self.tok, skips):
            for group in gather_sentences(doc, self.limit):
                sources.append(np.concatenate([[self.cls_id], self.noise(group, rng), [self.sep_id]]))
                targets.append(np.concatenate([[self.cls_id], join_ids(group), [self.sep_id]]))
        return source_target_table(sources, targets)
