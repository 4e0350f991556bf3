"""Transformer decoder (Vaswani et al. 2017) for the sequence-to-sequence targets (``mt`` as in
CoVe, McCann et al. 2017; ``ae``): its own target-side word + position embedding, causal
self-attention, cross-attention over the encoder output, feed-forward.

Parameter names: ``embedding.word.weight``, ``embedding.pos.weight``, ``embedding.norm.*``,
``layers.{i}.{attn,attn_norm,cross,cross_norm,ffn,ffn_norm}.*``, ``final_norm`` when pre-LN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from uer_ray.decoders.base import DECODERS
from uer_ray.embeddings.config import EmbeddingConfig
from uer_ray.embeddings.embedding import Embedding
from uer_ray.layers.attention import KvCache, attention_mask
from uer_ray.layers.transformer_layer import TransformerDecoderLayer
from uer_ray.layers.validation import require_positive, require_probability


@dataclass(frozen=True, kw_only=True)
class TransformerDecoderConfig:
    """Sizes of the decoder; shared model sizes fill these, ``decoder_options`` override them."""

    hidden_size: int = 128
    layers: int = 2
    heads: int = 2
    ffn_size: int = 512
    act: Literal["gelu", "gelu_tanh", "relu", "silu"] = "gelu"
    pre_ln: bool = False
    layernorm_eps: float = 1e-12
    dropout: float = 0.1
    max_seq_length: int = 512
    position: Literal["pos", "sinusoidal_pos"] = "pos"

    def __post_init__(self) -> None:
        require_positive(self, "hidden_size", "layers", "heads", "ffn_size", "layernorm_eps",
                         "max_seq_length")
        require_probability(self, "dropout")
        if self.hidden_size % self.heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by heads {self.heads}")


@DECODERS.register("transformer")
class TransformerDecoder(nn.Module):
    """tgt_ids (B,T2), memory (B,T,M) -> (B,T2,H)."""

    Config = TransformerDecoderConfig

    def __init__(self, cfg: TransformerDecoderConfig, *, vocab_size: int, memory_dim: int):
        super().__init__()
        emb = EmbeddingConfig(emb_size=cfg.hidden_size, max_seq_length=cfg.max_seq_length,
                              layernorm_eps=cfg.layernorm_eps, dropout=cfg.dropout)
        self.embedding = Embedding(["word", cfg.position], emb, vocab_size)
        self.layers = nn.ModuleList(
            TransformerDecoderLayer(cfg.hidden_size, memory_dim, cfg.heads, cfg.ffn_size, act=cfg.act,
                                    pre_ln=cfg.pre_ln, eps=cfg.layernorm_eps, dropout=cfg.dropout,
                                    attention_dropout=cfg.dropout)
            for _ in range(cfg.layers)
        )
        self.final_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layernorm_eps) if cfg.pre_ln else None
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
        for layer in self.layers:
            x = layer(x, memory, self_mask, self_causal, memory_mask)
        return self.final_norm(x) if self.final_norm is not None else x

    # -- generation: self-attention keys/values cached, the memory's computed once ------------
    def start(self, memory: torch.Tensor, memory_padding: torch.Tensor | None, capacity: int) -> dict:
        """The cache for generating up to ``capacity`` target positions over ``memory`` (B,T,M)."""
        b = memory.shape[0]
        attn = self.layers[0].attn
        head_dim = self.output_dim // attn.heads
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
        for layer, kv, memory_kv in zip(self.layers, cache["layers"], cache["memory"], strict=True):
            kv.index, kv.visible = lengths[:, None], visible
            x = layer.cached(x, kv, mask, memory_kv, cache["memory_mask"])
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
