"""Config dataclasses of the encoders. Sizes shared across a model (``hidden_size``, ``layers``,
``heads``, ``ffn_size``, ``dropout``, ``layernorm_eps``) are filled from ``ModelConfig``;
``ModelConfig.encoder_options[name]`` overrides any field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from uer_ray.layers.validation import require_positive, require_probability

Activation = Literal["gelu", "gelu_tanh", "relu", "silu"]


@dataclass(frozen=True, kw_only=True)
class TransformerConfig:
    """Transformer encoder (Vaswani et al. 2017); defaults are BERT's (post-LN, exact GELU)."""

    hidden_size: int = 128
    layers: int = 2
    heads: int = 2
    ffn_size: int = 512
    act: Activation = "gelu"
    pre_ln: bool = False
    """pre-LN blocks (GPT-2) end with ``final_norm``; post-LN blocks (BERT) do not"""
    mask: Literal["fully_visible", "causal"] = "fully_visible"
    layernorm_eps: float = 1e-12
    dropout: float = 0.1
    attention_dropout: float = 0.1

    def __post_init__(self) -> None:
        require_positive(self, "hidden_size", "layers", "heads", "ffn_size", "layernorm_eps")
        require_probability(self, "dropout", "attention_dropout")
        if self.hidden_size % self.heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by heads {self.heads}")


@dataclass(frozen=True, kw_only=True)
class GptConfig(TransformerConfig):
    """The causal transformer of GPT-2 (Radford et al. 2019): pre-LN, tanh GELU, eps 1e-5."""

    act: Activation = "gelu_tanh"
    pre_ln: bool = True
    mask: Literal["fully_visible", "causal"] = "causal"
    layernorm_eps: float = 1e-5


@dataclass(frozen=True, kw_only=True)
class AttentionConfig:
    """Self-attention layers without the feed-forward sublayer (post-LN residual blocks)."""

    hidden_size: int = 128
    layers: int = 2
    heads: int = 2
    mask: Literal["fully_visible", "causal"] = "fully_visible"
    layernorm_eps: float = 1e-12
    dropout: float = 0.1

    def __post_init__(self) -> None:
        require_positive(self, "hidden_size", "layers", "heads", "layernorm_eps")
        require_probability(self, "dropout")
        if self.hidden_size % self.heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by heads {self.heads}")


@dataclass(frozen=True, kw_only=True)
class RnnConfig:
    """Recurrent encoders; bidirectional ones use hidden_size/2 per direction."""

    hidden_size: int = 128
    layers: int = 2
    dropout: float = 0.1
    input_dim: int | None = None
    """pin the input width (None: whatever the previous stage outputs)"""

    def __post_init__(self) -> None:
        require_positive(self, "hidden_size", "layers", "input_dim")
        require_probability(self, "dropout")


@dataclass(frozen=True, kw_only=True)
class CnnConfig:
    """Convolutional encoders (``cnn``: same-width convolutions; ``gatedcnn``: causal GLU)."""

    hidden_size: int = 128
    layers: int = 2
    kernel_size: int = 3
    block_size: int = 2
    """``gatedcnn``: a residual connection around every block of this many layers"""
    dropout: float = 0.1
    input_dim: int | None = None
    """pin the input width (None: whatever the previous stage outputs)"""

    def __post_init__(self) -> None:
        require_positive(self, "hidden_size", "layers", "kernel_size", "block_size", "input_dim")
        require_probability(self, "dropout")
