"""``transformer``: the Transformer encoder (BERT, Devlin et al. 2019; pre/post-LN, any
activation, fully-visible, causal or prefix-LM mask; the T5 options of docs/models.md). ``gpt``
is its GPT-2 configuration.

Parameter names: ``layers.{i}.attn.qkv``, ``layers.{i}.attn.out``, ``layers.{i}.attn_norm``,
``layers.{i}.ffn.inner``, ``layers.{i}.ffn.gate`` (gated feed-forward), ``layers.{i}.ffn.outer``,
``layers.{i}.ffn_norm``, ``final_norm`` for pre-LN stacks (GPT-2's ``ln_f``), and
``position_bias.weight`` (num_buckets, heads) with relative positions: one table for the whole
stack, computed once per forward pass and added in every layer (T5).

Masks: ``fully_visible`` (BERT), ``causal`` (GPT), ``causal_with_prefix`` (UniLM's sequence-to-
sequence mask, Dong et al. 2019, and the prefix LM of T5): a position of segment 1 attends to all
of segment 1; a position of segment 2 attends to segment 1 and to segment-2 positions up to
itself. It reads the segment ids (``reads_segments``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from uer_ray.encoders.base import ENCODERS, Encoder
from uer_ray.layers.attention import KvCache, attention_mask
from uer_ray.layers.norm import make_norm
from uer_ray.layers.packing import Packing
from uer_ray.layers.relative_position import RelativePositionBias
from uer_ray.layers.transformer_layer import TransformerLayer
from uer_ray.layers.validation import require_positive, require_probability

Activation = Literal["gelu", "gelu_tanh", "relu", "silu"]
Mask = Literal["fully_visible", "causal", "causal_with_prefix"]
Norm = Literal["layernorm", "rmsnorm"]
FeedForwardKind = Literal["dense", "gated"]


def check_block_options(cfg) -> None:
    """The size checks every transformer stack config (encoder and decoder) shares."""
    require_positive(cfg, "hidden_size", "layers", "heads", "ffn_size", "layernorm_eps",
                     "relative_buckets", "relative_max_distance", "head_size")
    if cfg.head_size is None and cfg.hidden_size % cfg.heads:
        raise ValueError(f"hidden_size {cfg.hidden_size} is not divisible by heads {cfg.heads}")
    if cfg.relative_position and (cfg.relative_buckets < 4
                                  or cfg.relative_max_distance <= cfg.relative_buckets // 2):
        # half of the buckets hold exact offsets; the log-spaced rest must reach beyond them
        raise ValueError(f"relative_buckets {cfg.relative_buckets} with relative_max_distance "
                         f"{cfg.relative_max_distance}: need at least 4 buckets and a max distance "
                         "above half of them")


def layer_options(cfg) -> dict:
    """The keyword options of ``TransformerLayer``/``TransformerDecoderLayer`` from a config."""
    return {"act": cfg.act, "pre_ln": cfg.pre_ln, "eps": cfg.layernorm_eps, "norm": cfg.norm,
            "gated": cfg.feed_forward == "gated", "bias": cfg.bias, "scale": cfg.attention_scale,
            "head_size": cfg.head_size}


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
    mask: Mask = "fully_visible"
    layernorm_eps: float = 1e-12
    dropout: float = 0.1
    attention_dropout: float = 0.1
    norm: Norm = "layernorm"
    """``rmsnorm``: T5's LayerNorm (root mean square, scale only, no bias)"""
    feed_forward: FeedForwardKind = "dense"
    """``gated``: act(W x) * (V x) (T5 v1.1 with gelu_tanh; silu gives SwiGLU)"""
    bias: bool = True
    """biases in the attention and feed-forward Linears (T5 has none)"""
    attention_scale: bool = True
    """divide attention scores by √(head size) (T5 does not)"""
    relative_position: bool = False
    """T5's bucketed relative position bias, shared by all layers (bidirectional buckets unless
    the mask is ``causal``)"""
    relative_buckets: int = 32
    relative_max_distance: int = 128
    head_size: int | None = None
    """size of each attention head (None: hidden_size / heads); T5 v1.1 small has 6 heads of
    64 in a hidden size of 512"""

    def __post_init__(self) -> None:
        check_block_options(self)
        require_probability(self, "dropout", "attention_dropout")


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
        self.reads_segments = cfg.mask == "causal_with_prefix"
        """``forward`` needs ``segment_ids`` (the prefix-LM mask)"""
        self.input_dim = self.output_dim = cfg.hidden_size
        self.layers = nn.ModuleList(
            TransformerLayer(cfg.hidden_size, cfg.heads, cfg.ffn_size, dropout=cfg.dropout,
                             attention_dropout=cfg.attention_dropout, **layer_options(cfg))
            for _ in range(cfg.layers)
        )
        self.final_norm = make_norm(cfg.norm, cfg.hidden_size, cfg.layernorm_eps) if cfg.pre_ln else None
        self.position_bias = (RelativePositionBias(cfg.heads, cfg.relative_buckets, cfg.relative_max_distance,
                                                   bidirectional=not self.causal)
                              if cfg.relative_position else None)

    @classmethod
    def expected_input_dim(cls, cfg: TransformerConfig) -> int:
        return cfg.hidden_size  # residual connections need input width == hidden_size

    # generation: keys and values cached per layer (only a causal encoder generates: a
    # fully-visible one's earlier states change with every new token)
    incremental = True

    def start(self, x: torch.Tensor, lengths: torch.Tensor, capacity: int) -> tuple[torch.Tensor, dict]:
        b, t, h = x.shape
        attn = self.layers[0].attn
        caches = [KvCache(b, attn.heads, capacity, attn.head_dim) for _ in self.layers]
        keys = torch.arange(t, device=x.device)
        # causal, and no key past the row's end
        mask = (keys[None, :] < lengths[:, None])[:, None, None, :] & (keys[:, None] >= keys)
        bias = None if self.position_bias is None else self.position_bias.square(t, x.device)
        return (self._cached(x, caches, None, t, mask, bias),
                {"layers": caches, "lengths": lengths.clone()})

    def extend(self, x: torch.Tensor, cache: dict) -> tuple[torch.Tensor, dict]:
        """Every row's next position is its number of cached positions (``cache["lengths"]``)."""
        lengths = cache["lengths"]
        visible = int(lengths.max()) + 1
        mask = (torch.arange(visible, device=x.device) <= lengths[:, None])[:, None, None, :]
        # the bias row of each row's own position
        bias = None if self.position_bias is None else self.position_bias(lengths[:, None], visible)
        out = self._cached(x, cache["layers"], lengths[:, None], visible, mask, bias)
        return out, {"layers": cache["layers"], "lengths": lengths + 1}

    def _cached(self, x, caches, index, visible, mask, bias) -> torch.Tensor:
        for layer, cache in zip(self.layers, caches, strict=True):
            cache.index, cache.visible = index, visible
            x = layer.cached(x, cache, mask, bias)
        return self.final_norm(x) if self.final_norm is not None else x

    def reorder(self, cache: dict, index: torch.Tensor) -> dict:
        for layer in cache["layers"]:
            layer.reorder(index)
        return {"layers": cache["layers"], "lengths": cache["lengths"].index_select(0, index)}

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None,
                read: torch.Tensor | None = None, segment_ids: torch.Tensor | None = None) -> torch.Tensor:
        """``read`` (B,T) bool, optional: the rows whose output will be read; the last block
        computes only those after its attention (zeros elsewhere). Ignored under
        ``torch.compile``. ``segment_ids`` (B,T): what the ``causal_with_prefix`` mask reads."""
        b, t = x.shape[:2]
        if self.reads_segments:
            mask, is_causal = prefix_mask(segment_ids, padding_mask), False
        else:
            mask, is_causal = attention_mask(padding_mask, self.causal, t, t)
        bias = None if self.position_bias is None else self.position_bias.square(t, x.device)
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
            x = layer(x, mask, is_causal, packing, keep, bias)
        if narrowed is not None:
            packing = narrowed[1]
        if self.final_norm is not None:
            x = self.final_norm(x)
        return packing.unpack(x) if packing is not None else x


def prefix_mask(segment_ids: torch.Tensor | None, padding_mask: torch.Tensor | None) -> torch.Tensor:
    """The ``causal_with_prefix`` mask (B,1,T,T), True = may attend: key j is visible from query
    i when j is in segment 1 (the prefix) or j <= i, and j is not padding."""
    if segment_ids is None:
        raise ValueError("the causal_with_prefix mask needs the segment ids (1: prefix, 2: the rest)")
    t = segment_ids.shape[1]
    pos = torch.arange(t, device=segment_ids.device)
    keep = (segment_ids[:, None, :] == 1) | (pos[None, :, None] >= pos[None, None, :])  # (B,T,T)
    if padding_mask is not None:
        keep = keep & ~padding_mask[:, None, :]
    return keep[:, None]
