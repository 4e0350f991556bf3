"""One transformer block, post-LN (BERT, Devlin et al. 2019) or pre-LN (GPT-2, Radford et al. 2019),
and the decoder block with cross-attention (Vaswani et al. 2017).

Parameter names (stable): ``attn`` (SelfAttention), ``attn_norm``, ``ffn`` (FeedForward),
``ffn_norm``; the decoder block adds ``cross`` (CrossAttention) and ``cross_norm``.
In a post-LN block ``attn_norm`` follows the attention residual; in a pre-LN block it precedes it.

Options (T5, Raffel et al. 2020): ``norm`` (``layernorm`` | ``rmsnorm``, ``uer_ray.layers.norm``),
``gated`` feed-forward (T5 v1.1), ``bias=False`` for every attention and feed-forward Linear,
``scale=False`` (attention scores not divided by √d), ``head_size`` (heads × head size other
than the hidden size), and a ``position_bias`` passed to
``forward``/``cached`` and added to the self-attention scores (relative positions; the stack
computes it once and every layer adds the same).
"""

from __future__ import annotations

import torch
from torch import nn

from uer_ray.layers.attention import CrossAttention, KvCache, SelfAttention
from uer_ray.layers.dropout import dropout
from uer_ray.layers.feed_forward import FeedForward
from uer_ray.layers.norm import make_norm
from uer_ray.layers.packing import Packing


class TransformerLayer(nn.Module):
    """(B,T,H) -> (B,T,H); ``mask``/``is_causal`` come from ``attention_mask``. With a ``packing``
    the block takes and returns the packed rows (N,H) (``uer_ray.layers.packing``)."""

    def __init__(self, hidden_size: int, heads: int, ffn_size: int, *, act: str = "gelu",
                 pre_ln: bool = False, eps: float = 1e-12, dropout: float = 0.1,
                 attention_dropout: float = 0.1, norm: str = "layernorm", gated: bool = False,
                 bias: bool = True, scale: bool = True, head_size: int | None = None):
        super().__init__()
        self.pre_ln = pre_ln
        self.dropout = dropout
        self.attn = SelfAttention(hidden_size, heads, attention_dropout, bias=bias, scale=scale,
                                  head_size=head_size)
        self.attn_norm = make_norm(norm, hidden_size, eps)
        self.ffn = FeedForward(hidden_size, ffn_size, act, bias=bias, gated=gated)
        self.ffn_norm = make_norm(norm, hidden_size, eps)

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.dropout, self.training) if self.dropout else x

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, is_causal: bool,
                packing: Packing | None = None, keep: torch.Tensor | None = None,
                position_bias: torch.Tensor | None = None) -> torch.Tensor:
        """``keep`` (M,), with a packing: compute and return only these of the N rows after
        attention (whose keys and values need every row)."""
        if self.pre_ln:
            a = self.attn(self.attn_norm(x), mask, is_causal, packing, keep, position_bias)
            x = (x if keep is None else x.index_select(0, keep)) + self._drop(a)
            return x + self._drop(self.ffn(self.ffn_norm(x)))
        a = self.attn(x, mask, is_causal, packing, keep, position_bias)
        x = self.attn_norm((x if keep is None else x.index_select(0, keep)) + self._drop(a))
        return self.ffn_norm(x + self._drop(self.ffn(x)))

    def cached(self, x: torch.Tensor, cache: KvCache, mask: torch.Tensor | None,
               position_bias: torch.Tensor | None = None) -> torch.Tensor:
        """Generation (eval): ``forward`` for the next positions x (B,t,H), attending over the
        layer's cached keys and values (``SelfAttention.cached``)."""
        if self.pre_ln:
            x = x + self.attn.cached(self.attn_norm(x), cache, mask, position_bias=position_bias)
            return x + self.ffn(self.ffn_norm(x))
        x = self.attn_norm(x + self.attn.cached(x, cache, mask, position_bias=position_bias))
        return self.ffn_norm(x + self.ffn(x))


class TransformerDecoderLayer(nn.Module):
    """Causal self-attention, cross-attention over the encoder memory, feed-forward.

    x (B,Tq,H), memory (B,Tk,M) -> (B,Tq,H)."""

    def __init__(self, hidden_size: int, memory_size: int, heads: int, ffn_size: int, *,
                 act: str = "gelu", pre_ln: bool = False, eps: float = 1e-12,
                 dropout: float = 0.1, attention_dropout: float = 0.1, norm: str = "layernorm",
                 gated: bool = False, bias: bool = True, scale: bool = True,
                 head_size: int | None = None):
        super().__init__()
        self.pre_ln = pre_ln
        self.dropout = dropout
        self.attn = SelfAttention(hidden_size, heads, attention_dropout, bias=bias, scale=scale,
                                  head_size=head_size)
        self.attn_norm = make_norm(norm, hidden_size, eps)
        self.cross = CrossAttention(hidden_size, memory_size, heads, attention_dropout, bias=bias,
                                    scale=scale, head_size=head_size)
        self.cross_norm = make_norm(norm, hidden_size, eps)
        self.ffn = FeedForward(hidden_size, ffn_size, act, bias=bias, gated=gated)
        self.ffn_norm = make_norm(norm, hidden_size, eps)

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.dropout, self.training) if self.dropout else x

    def cached(self, x, cache: KvCache, self_mask, memory_kv, memory_mask,
               position_bias: torch.Tensor | None = None) -> torch.Tensor:
        """Generation (eval): ``forward`` for the next positions, over the cached self-attention
        keys/values and the memory's keys/values computed once (``CrossAttention.memory_kv``)."""
        if self.pre_ln:
            x = x + self.attn.cached(self.attn_norm(x), cache, self_mask, position_bias=position_bias)
            x = x + self.cross(self.cross_norm(x), None, memory_mask, memory_kv)
            return x + self.ffn(self.ffn_norm(x))
        x = self.attn_norm(x + self.attn.cached(x, cache, self_mask, position_bias=position_bias))
        x = self.cross_norm(x + self.cross(x, None, memory_mask, memory_kv))
        return self.ffn_norm(x + self.ffn(x))

    def forward(self, x, memory, self_mask, self_causal, memory_mask,
                position_bias: torch.Tensor | None = None):
        if self.pre_ln:
            a = self.attn(self.attn_norm(x), self_mask, self_causal, position_bias=position_bias)
            x = x + self._drop(a)
            x = x + self._drop(self.cross(self.cross_norm(x), memory, memory_mask))
            return x + self._drop(self.ffn(self.ffn_norm(x)))
        x = self.attn_norm(x + self._drop(self.attn(x, self_mask, self_causal, position_bias=position_bias)))
        x = self.cross_norm(x + self._drop(self.cross(x, memory, memory_mask)))
        return self.ffn_norm(x + self._drop(self.ffn(x)))
