"""Transformer decoder (Vaswani et al. 2017) for the sequence-to-sequence targets (``mt`` as in
CoVe, McCann et al. 2017; ``ae``): its own target-side word + position embedding, causal
self-attention, cross-attention over the encoder output, feed-forward.

Parameter names: ``embedding.word.weight``, ``embedding.pos.weight``, ``embedding.norm.*``,
``layers.{i}.{attn,attn_norm,cross,cross_norm,ffn,ffn_norm}.*``, ``final_norm`` when pre-LN,
``position_bias.weight`` (num_buckets, heads) with relative positions (unidirectional buckets:
one table for all layers, as T5's decoder).

``share_embedding``: the decoder reads the model's own ``word`` embedding (the encoder side's
table) instead of a table of its own, so one (V,H) matrix serves the encoder input, the decoder
input and, tied, the output projection (T5, BART); it then has no ``embedding.word.weight``.
The block options (``norm``, ``feed_forward``, ``bias``, ``attention_scale``,
``relative_position``) are the encoder's (``uer_ray.encoders.transformer``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from uer_ray.decoders.base import DECODERS
from uer_ray.embeddings.config import EmbeddingConfig
from uer_ray.embeddings.embedding import Embedding
from uer_ray.encoders.transformer import (
    Activation,
    FeedForwardKind,
    Norm,
    check_block_options,
    layer_options,
)
from uer_ray.layers.attention import KvCache, attention_mask
from uer_ray.layers.norm import make_norm
from uer_ray.layers.relative_position import RelativePositionBias
from uer_ray.layers.transformer_layer import TransformerDecoderLayer
from uer_ray.layers.validation import require_positive, require_probability


@dataclass(frozen=True, kw_only=True)
class TransformerDecoderConfig:
    """Sizes of the decoder; shared model sizes fill these, ``decoder_options`` override them."""

    hidden_size: int = 128
    layers: int = 2
    heads: int = 2
    ffn_size: int = 512
    act: Activation = "gelu"
    pre_ln: bool = False
    layernorm_eps: float = 1e-12
    dropout: float = 0.1
    max_seq_length: int = 512
    position: Literal["pos", "sinusoidal_pos", "none"] = "pos"
    """the decoder's position embedding (``none``: T5, whose relative bias says where tokens are)"""
    norm: Norm = "layernorm"
    feed_forward: FeedForwardKind = "dense"
    bias: bool = True
    attention_scale: bool = True
    relative_position: bool = False
    relative_buckets: int = 32
    relative_max_distance: int = 128
    head_size: int | None = None
    embedding_layernorm: bool = True
    """a LayerNorm after the decoder's embedding sum (BART's ``layernorm_embedding``)"""
    scale_embedding: bool = False
    """multiply the decoder's word vectors by √hidden_size"""
    share_embedding: bool = False
    """use the model's ``word`` embedding (source vocabulary) instead of a table of its own"""

    def __post_init__(self) -> None:
        check_block_options(self)
        require_positive(self, "max_seq_length")
        require_probability(self, "dropout")


@DECODERS.register("transformer")
class TransformerDecoder(nn.Module):
    """tgt_ids (B,T2), memory (B,T,M) -> (B,T2,H)."""

    Config = TransformerDecoderConfig

    def __init__(self, cfg: TransformerDecoderConfig, *, vocab_size: int, memory_dim: int,
                 word_embedding: nn.Module | None = None):
        """``word_embedding``: the model's word part, read when ``share_embedding``."""
        super().__init__()
        emb = EmbeddingConfig(emb_size=cfg.hidden_size, max_seq_length=cfg.max_seq_length,
                              layernorm=cfg.embedding_layernorm, layernorm_eps=cfg.layernorm_eps,
                              dropout=cfg.dropout, scale_embedding=cfg.scale_embedding)
        shared = None
        if cfg.share_embedding:
            if word_embedding is None:
                raise ValueError("decoder share_embedding needs a 'word' embedding part in the model")
            width = word_embedding.output_weight.shape
            if tuple(width) != (vocab_size, cfg.hidden_size) or getattr(word_embedding, "project", None):
                raise ValueError(f"decoder share_embedding: the word table is {tuple(width)} but the "
                                 f"decoder needs ({vocab_size}, {cfg.hidden_size}) (vocabulary, "
                                 "hidden_size), unfactorised")
            shared = {"word": word_embedding}
        parts = ["word"] + ([] if cfg.position == "none" else [cfg.position])
        self.embedding = Embedding(parts, emb, vocab_size, shared=shared)
        self.layers = nn.ModuleList(
            TransformerDecoderLayer(cfg.hidden_size, memory_dim, cfg.heads, cfg.ffn_size,
                                    dropout=cfg.dropout, attention_dropout=cfg.dropout,
                                    **layer_options(cfg))
            for _ in range(cfg.layers)
        )
        self.final_norm = make_norm(cfg.norm, cfg.hidden_size, cfg.layernorm_eps) if cfg.pre_ln else None
        self.position_bias = (RelativePositionBias(cfg.heads, cfg.relative_buckets, cfg.relative_max_distance,
                                                   bidirectional=False)
                              if cfg.relative_position else None)
        self.output_dim = cfg.hidden_size

    @property
    def output_weight(self) -> torch.Tensor:
        return self.embedding.part("word").output_weight

    def forward(self, tgt_ids: torch.Tensor, tgt_padding: torch.Tensor | None,
                memory: torch.Tensor, memory_padding: torch.Tensor | None) -> torch.Tensor:
        t2, t = tgt_ids.shape[1], memory.shape[1]
        x = self.embedding(tgt_ids, tgt_ids)  # the decoder embedding has no segment part
        self_mask, self_causal = attention_mask(tgt_padding, True, t2, t2)
        memory_mask, _ = attention_mask(memory_padding, False, t2, t)
        bias = None if self.position_bias is None else self.position_bias.square(t2, x.device)
        for layer in self.layers:
            x = layer(x, memory, self_mask, self_causal, memory_mask, bias)
        return self.final_norm(x) if self.final_norm is not None else x

    # -- generation: self-attention keys/values cached, the memory's computed once ------------
    def start(self, memory: torch.Tensor, memory_padding: torch.Tensor | None, capacity: int) -> dict:
        """The cache for generating up to ``capacity`` target positions over ``memory`` (B,T,M)."""
        b = memory.shape[0]
        attn = self.layers[0].attn
        head_dim = attn.head_dim
        mask = attention_mask(memory_padding, False, 1, memory.shape[1])[0]
        return {"layers": [KvCache(b, attn.heads, capacity, head_dim) for _ in self.layers],
                "memory": [layer.cross.memory_kv(memory) for layer in self.layers],
                "memory_mask": mask,
                "lengths": torch.zeros(b, dtype=torch.long, device=memory.device)}

    def extend(self, tgt_ids: torch.Tensor, cache: dict) -> tuple[torch.Tensor, dict]:
        """tgt_ids (B,1): every row's next target token -> states (B,1,H) and the cache."""
        lengths = cache["lengths"]
        visible = int(lengths.max()) + 1
        x = self.embedding(tgt_ids, tgt_ids, lengths[:, None])
        mask = (torch.arange(visible, device=x.device) <= lengths[:, None])[:, None, None, :]
        # relative positions: the bias row of each row's own position over the visible keys
        bias = None if self.position_bias is None else self.position_bias(lengths[:, None], visible)
        for layer, kv, memory_kv in zip(self.layers, cache["layers"], cache["memory"], strict=True):
            kv.index, kv.visible = lengths[:, None], visible
            x = layer.cached(x, kv, mask, memory_kv, cache["memory_mask"], bias)
        x = self.final_norm(x) if self.final_norm is not None else x
        return x, {**cache, "lengths": lengths + 1}

    def reorder(self, cache: dict, index: torch.Tensor) -> dict:
        for kv in cache["layers"]:
            kv.reorder(index)
        mask = cache["memory_mask"]
        return {"layers": cache["layers"],
                "memory": [(k.index_select(0, index), v.index_select(0, index)) for k, v in cache["memory"]],
                "memory_mask": None if mask is None else mask.index_select(0, index),
                "lengths": cache["lengths"].index_select(0, index)}
