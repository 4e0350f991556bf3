"""``ModelConfig``: the complete description of a model (what ``config.json`` holds), in the
spirit of UER-py's JSON configs::

    {"embedding": ["word", "pos", "seg"], "encoder": "transformer", "targets": {"mlm": 1.0, "sp": 1.0},
     "emb_size": 128, "hidden_size": 128, "layers": 2, "heads": 2, "ffn_size": 512}

Shared sizes fill every component config that has a field of the same name; the ``*_options``
sections override single fields of one component (``encoder_options: {"lstm": {"layers": 1}}``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from uer_ray import config as cfgio
from uer_ray.layers.validation import require_positive, require_probability


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    embedding: list[str] = field(default_factory=lambda: ["word", "pos", "seg"])
    """embedding parts, summed (``word``, ``pos``, ``sinusoidal_pos``, ``seg``, ``subword``)"""
    encoder: str | list[str] = "transformer"
    """one encoder name, or a stack whose members feed each other in order"""
    decoder: str | None = None
    """decoder used by sequence-to-sequence targets (``mt``, ``ae``)"""
    targets: dict[str, float] = field(default_factory=lambda: {"mlm": 1.0})
    """target name -> weight of its loss"""
    vocab_size: int | None = None
    """set from the tokenizer at build time (runtime value), recorded for checkpoints"""
    tgt_vocab_size: int | None = None
    """target-side vocabulary of ``mt`` (runtime value)"""
    pad_id: int = 0
    emb_size: int = 128
    hidden_size: int = 128
    layers: int = 2
    heads: int = 2
    ffn_size: int = 512
    max_seq_length: int = 512
    dropout: float = 0.1
    layernorm_eps: float = 1e-12
    embedding_options: dict[str, Any] = field(default_factory=dict)
    """fields of ``EmbeddingConfig`` (``layernorm``, ``factorized_size``, ``subword``, ...)"""
    encoder_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    """encoder name -> fields of its config (``act``, ``pre_ln``, ``mask``, ``kernel_size``, ...)"""
    decoder_options: dict[str, Any] = field(default_factory=dict)
    target_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    """target name -> fields of its config (``tie_weights``, ``labels_num``, ``pooling``, ...)"""

    def __post_init__(self) -> None:
        require_positive(self, "vocab_size", "tgt_vocab_size", "emb_size", "hidden_size", "layers",
                         "heads", "ffn_size", "max_seq_length", "layernorm_eps")
        require_probability(self, "dropout")
        if not self.targets:
            raise ValueError("targets is empty: name at least one, e.g. {\"mlm\": 1.0}")
        for name, weight in self.targets.items():
            if weight < 0:
                raise ValueError(f"targets.{name}: weight must be >= 0, got {weight}")
        if isinstance(self.encoder, list) and not self.encoder:
            raise ValueError("encoder: the stack is empty")

    @property
    def encoder_names(self) -> list[str]:
        return [self.encoder] if isinstance(self.encoder, str) else list(self.encoder)

    @classmethod
    def from_dict(cls, data: dict, path: str = "config") -> ModelConfig:
        return cfgio.from_dict(cls, data, path)

    def to_dict(self) -> dict:
        return cfgio.to_dict(self)
