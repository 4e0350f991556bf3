"""Tokenizers (registry ``TOKENIZERS``), one per file named after it: ``char``, ``space``,
``wordpiece`` (BERT vocab.txt, ids identical to transformers' ``BertTokenizer``),
``sentencepiece`` (.model); vocabulary building for those that declare ``train_vocab``
(wordpiece, sentencepiece, char). See docs/contracts.md "Tokenizers". Every module of this
folder is imported here, so a new tokenizer file registers itself.
"""

import importlib
import pkgutil

from uer_ray.tokenizers.base import (
    SPECIAL_NAMES,
    SPECIAL_TOKENS,
    TOKENIZERS,
    Tokenizer,
    build_tokenizer,
    load_tokenizer,
    tokenizer_kind,
)
from uer_ray.tokenizers.vocab_builder import build_vocab, vocab_kinds

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "SPECIAL_NAMES",
    "SPECIAL_TOKENS",
    "TOKENIZERS",
    "Tokenizer",
    "build_tokenizer",
    "build_vocab",
    "load_tokenizer",
    "tokenizer_kind",
    "vocab_kinds",
]
