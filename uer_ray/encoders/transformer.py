"""Attention encoders: ``transformer`` (BERT, Devlin et al. 2019; pre/post-LN, any activation,
fully-visible or causal), ``gpt`` (the GPT-2 configuration of it), ``attention`` (self-attention
blocks without feed-forward).

Parameter names: ``layers.{i}.attn.qkv``, ``layers.{i}.attn.out``, ``layers.{i}.attn_norm``,
``layers.{i}.ffn.inner``, ``layers.{i}.ffn.outer``, ``layers.{i}.ffn_norm``, and ``final_norm``
for pre-LN stacks (GPT-2's ``ln_f``).
"""

from __future__ import annotations

import torch
from torch import nn

from uer_ray.encoders.config import AttentionConfig, GptConfig, TransformerConfig
from uer_ray.encoders.registry import ENCODERS
from uer_ray.layers.attention import SelfAttention, attention_mask
from uer_ray.layers.dropout import dropout
from uer_ray.layers.packing import Packing
from uer_ray.layers.transformer_layer import TransformerLayer


@ENCODERS.register("transformer")
class TransformerEncoder(nn.Module):
    """(B,T,H), padding_mask (B,T) -> (B,T,H)."""

    Config = TransformerConfig
    bidirectional = False
    reads_rows = True  # forward takes ``read``

    def __init__(self, cfg: TransformerConfig, input_dim: int):
        super().__init__()
        self.causal = cfg.mask == "causal"
        self.input_dim = self.output_dim = cfg.hidden_size
        self.layers = nn.ModuleList(
            TransformerLayer(cfg.hidden_size, cfg.heads, cfg.ffn_size, act=cfg.act, pre_ln=cfg.pre_ln,
                             eps=cfg.layernorm_eps, dropout=cfg.dropout,
                             attention_dropout=cfg.attention_dropout)
            for _ in range(cfg.layers)
        )
        self.final_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layernorm_eps) if cfg.pre_ln else None

    @classmethod
    def expected_input_dim(cls, cfg: TransformerConfig) -> int:
        return cfg.hidden_size  # residual connections need input width == hidden_size

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None,
                read: torch.Tensor | None = None) -> torch.Tensor:
        """``read`` (B,T) bool, optional: the rows whose output will be read; the last block
        computes only those after its attention (zeros elsewhere). Ignored under
        ``torch.compile``."""
        b, t = x.shape[:2]
        mask, is_causal = attention_mask(padding_mask, self.causal, t, t)
        packing = Packing.of(padding_mask)  # real tokens only between attentions
        narrowed = None
        if read is not None and not torch.compiler.is_compiling():
            packing = packing or Packing(None, b, t)
            narrowed = packing.narrow(read)
        if packing is not None:
            x = packing.pack(x)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            keep = narrowed[0] if narrowed is not None and i == last else None
            x = layer(x, mask, is_causal, packing, keep)
        if narrowed is not None:
            packing = narrowed[1]
        if self.final_norm is not None:
            x = self.final_norm(x)
        return packing.unpack(x) if packing is not None else x


@ENCODERS.register("gpt")
class GptEncoder(TransformerEncoder):
    """The transformer with GPT-2's defaults (causal, pre-LN, gelu_tanh, final LayerNorm)."""

    Config = GptConfig


@ENCODERS.register("attention")
class AttentionEncoder(nn.Module):
    """Stacked self-attention with residual + LayerNorm, no feed-forward: (B,T,H) -> (B,T,H).

    Parameter names: ``layers.{i}.qkv``, ``layers.{i}.out``, ``norms.{i}``."""

    Config = AttentionConfig
    bidirectional = False

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
