"""Config of the embedding layer (UER paper §3.2): which parts are summed, their sizes, and the
LayerNorm/dropout applied to the sum."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from uer_ray.layers.validation import require_positive, require_probability


@dataclass(frozen=True, kw_only=True)
class SubwordConfig:
    """Word vectors from characters (UER paper §3.1, the subencoder layer)."""

    subencoder: str = "char_cnn"
    """registered subencoder: ``char_cnn`` or ``char_rnn``"""
    char_vocab_size: int = 512
    """characters are hashed into this many buckets (bucket 0 is padding)"""
    char_dim: int = 32
    max_word_chars: int = 12
    pooling: Literal["mean", "max"] = "max"
    kernel_size: int = 3

    def __post_init__(self) -> None:
        require_positive(self, "char_vocab_size", "char_dim", "max_word_chars", "kernel_size")


@dataclass(frozen=True, kw_only=True)
class EmbeddingConfig:
    """Sizes of the embedding parts; the list of parts lives in ``ModelConfig.embedding``."""

    emb_size: int = 128
    """E, the size of every part and of the sum"""
    max_seq_length: int = 512
    """rows of the learned position table (and of the sinusoidal one)"""
    segment_vocab_size: int = 3
    """segment ids are 0 (padding), 1 (first segment), 2 (second segment)"""
    factorized_size: int | None = None
    """ALBERT-style factorised word embedding: a V×e table projected to E (None: V×E table)"""
    layernorm: bool = True
    layernorm_eps: float = 1e-12
    scale_embedding: bool = False
    """multiply the word vectors by √emb_size before the sum (Vaswani et al. 2017; BART's and
    PEGASUS's ``scale_embedding``)"""
    dropout: float = 0.1
    init_std: float = 0.02
    """standard deviation of the word table's normal initialisation. BERT's 0.02 suits
    transformers (LayerNorm rescales the sum); recurrent presets use 1.0 (PyTorch's default), since
    with 0.02 and no LayerNorm a 2-layer LSTM language model stays near the unigram loss
    (book-review characters, ``bench/lstm_init.py``: 6.20 at step 80, against 5.50 with 1.0)"""
    subword: SubwordConfig = field(default_factory=SubwordConfig)
    """options of the ``subword`` part"""

    def __post_init__(self) -> None:
        require_positive(self, "emb_size", "max_seq_length", "segment_vocab_size",
                         "factorized_size", "layernorm_eps", "init_std")
        require_probability(self, "dropout")
