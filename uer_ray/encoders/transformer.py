"""``transformer``: the Transformer encoder (BERT, Devlin et al. 2019; pre/post-LN, any
activation, fully-visible or causal). ``gpt`` is its GPT-2 configuration.

Parameter names: ``layers.{i}.attn.qkv``, ``layers.{i}.attn.out``, ``layers.{i}.attn_norm``,
``layers.{i}.ffn.inner``, ``layers.{i}.ffn.outer``, ``layers.{i}.ffn_norm``, and ``final_norm``
for pre-LN stacks (GPT-2's ``ln_f``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from uer_ray.encoders.base import ENCODERS, Encoder
from uer_ray.layers.attention import KvCache, attention_mask
from uer_ray.layers.packing import Packing
from uer_ray.layers.transformer_layer import TransformerLayer
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


@ENCODERS.register("transformer")
class TransformerEncoder(Encoder):
    """(B,T,H), padding_mask (B,T) -> (B,T,H)."""

    Config = TransformerConfig
    reads_rows = True  # forward takes ``read``
    lr_pretrained, lr_scratch = 2e-5, 1e-4

    @classmethod
    def sees_future(cls, cfg: TransformerConfig) -> bool:
        return cfg.mask != "causal"

    @classmethod
    def default_pooling(cls, cfg: TransformerConfig) -> str:
        # [CLS] reads the whole text when attention is fully visible; with a causal mask only
        # the last token has read everything
        return "first" if cls.sees_future(cfg) else "last"

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

    # generation: keys and values cached per layer (only a causal encoder generates: a
    # fully-visible one's earlier states change with every new token)
    incremental = True

    def start(self, x: torch.Tensor, lengths: torch.Tensor, capacity: int) -> tuple[torch.Tensor, dict]:
        b, t, h = x.shape
        heads = self.layers[0].attn.heads
        caches = [KvCache(b, heads, capacity, h // heads) for _ in self.layers]
        keys = torch.arange(t, device=x.device)
        # causal, and no key past the row's end
        mask = (keys[None, :] < lengths[:, None])[:, None, None, :] & (keys[:, None] >= keys)
        return self._cached(x, caches, None, t, mask), {"layers": caches, "lengths": lengths.clone()}

    def extend(self, x: torch.Tensor, cache: dict) -> tuple[torch.Tensor, dict]:
        """Every row's next position is its number of cached positions (``cache["lengths"]``)."""
        lengths = cache["lengths"]
        visible = int(lengths.max()) + 1
        mask = (torch.arange(visible, device=x.device) <= lengths[:, None])[:, None, None, :]
        out = self._cached(x, cache["layers"], lengths[:, None], visible, mask)
        return out, {"layers": cache["layers"], "lengths": lengths + 1}

    def _cached(self, x, caches, index, visible, mask) -> torch.Tensor:
        for layer, cache in zip(self.layers, caches, strict=True):
            cache.index, cache.visible = index, visible
            x = layer.cached(x, cache, mask)
        return self.final_norm(x) if self.final_norm is not None else x

    def reorder(self, cache: dict, index: torch.Tensor) -> dict:
        for layer in cache["layers"]:
            layer.reorder(index)
        return {"layers": cache["layers"], "lengths": cache["lengths"].index_select(0, index)}

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
