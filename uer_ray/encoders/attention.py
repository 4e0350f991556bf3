"""``attention``: self-attention blocks without the feed-forward sublayer (post-LN residual
blocks), the paper's attention neural network.

Parameter names: ``layers.{i}.qkv``, ``layers.{i}.out``, ``norms.{i}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from uer_ray.encoders.base import ENCODERS, Encoder
from uer_ray.layers.attention import SelfAttention, attention_mask
from uer_ray.layers.dropout import dropout
from uer_ray.layers.packing import Packing
from uer_ray.layers.validation import require_positive, require_probability


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


@ENCODERS.register("attention")
class AttentionEncoder(Encoder):
    """Stacked self-attention with residual + LayerNorm, no feed-forward: (B,T,H) -> (B,T,H)."""

    Config = AttentionConfig
    lr_pretrained = lr_scratch = 1e-3

    @classmethod
    def sees_future(cls, cfg: AttentionConfig) -> bool:
        return cfg.mask != "causal"

    @classmethod
    def default_pooling(cls, cfg: AttentionConfig) -> str:
        return "mean"

    def __init__(self, cfg: AttentionConfig, input_dim: int):
        super().__init__()
        self.causal = cfg.mask == "causal"
        self.dropout = cfg.dropout
        self.input_dim = self.output_dim = cfg.hidden_size
        self.layers = nn.ModuleList(SelfAttention(cfg.hidden_size, cfg.heads, cfg.dropout)
                                    for _ in range(cfg.layers))
        self.norms = nn.ModuleList(nn.LayerNorm(cfg.hidden_size, eps=cfg.layernorm_eps)
                                   for _ in range(cfg.layers))

    @classmethod
    def expected_input_dim(cls, cfg: AttentionConfig) -> int:
        return cfg.hidden_size

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        t = x.shape[1]
        mask, is_causal = attention_mask(padding_mask, self.causal, t, t)
        packing = Packing.of(padding_mask)
        if packing is not None:
            x = packing.pack(x)
        for attn, norm in zip(self.layers, self.norms, strict=False):
            x = norm(x + dropout(attn(x, mask, is_causal, packing), self.dropout, self.training))
        return packing.unpack(x) if packing is not None else x
