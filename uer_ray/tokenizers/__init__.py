"""Tokenizers (registry ``TOKENIZERS``): ``char``, ``space``, ``wordpiece`` (BERT vocab.txt,
ids identical to transformers' ``BertTokenizer``), ``sentencepiece`` (.model); vocabulary
building for wordpiece, sentencepiece and char. See docs/contracts.md "Tokenizers".
"""

from uer_ray.tokenizers import spm as _spm  # noqa: F401  (registers sentencepiece)
from uer_ray.tokenizers import vocab_tokenizers as _vocab  # noqa: F401  (registers the rest)
from uer_ray.tokenizers.base import (
    SPECIAL_NAMES,
    SPECIAL_TOKENS,
    TOKENIZERS,
    Tokenizer,
    build_tokenizer,
    load_tokenizer,
)
from uer_ray.tokenizers.vocab_builder import VOCAB_KINDS, build_vocab

__all__ = [
    "SPECIAL_NAMES",
    "SPECIAL_TOKENS",
    "TOKENIZERS",
    "Tokenizer",
    "VOCAB_KINDS",
    "build_tokenizer",
    "build_vocab",
    "load_tokenizer",
]
