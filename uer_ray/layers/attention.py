"""Multi-head attention on ``torch.nn.functional.scaled_dot_product_attention``
(Vaswani et al. 2017, "Attention Is All You Need").

Parameter names (stable; the Hugging Face interop maps onto them):
  self-attention:  ``qkv`` Linear(H, 3H) — rows [0:H] query, [H:2H] key, [2H:3H] value — and ``out`` Linear(H, H)
  cross-attention: ``q`` Linear(H, H), ``kv`` Linear(M, 2H) — rows [0:H] key, [H:2H] value — and ``out``
One fused projection for Q, K and V is one matrix multiply instead of three, which matters at
small hidden sizes on CPU.

Attention goes through ``scaled_dot_product_attention`` except on CPU with attention dropout
active (training with ``dropout > 0``): there SDPA falls back to its generic path, which measured
~2.5× slower (forward + backward) than the same operations written out, so ``attend`` writes
them out: one ``baddbmm`` computes QKᵀ/√d plus an additive mask, then softmax, dropout and a
``bmm`` with V. Both compute softmax(QKᵀ/√d + mask)·V. GPUs keep SDPA's fused dropout kernels.

Options for T5: ``bias=False`` (projections without bias), ``scale=False`` (scores are QKᵀ, not
divided by √d: T5 folds the factor into its initialisation), and an additive ``position_bias``
(B|1, heads, Tq, Tk) added to the scores (``uer_ray.layers.relative_position``). ``head_size``
sets the size of each head when heads × head size differs from the hidden size (T5 v1.1 small:
6 heads of 64 in a hidden size of 512); the projections are then (H, heads·d) and (heads·d, H).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from uer_ray.layers.dropout import dropout as drop
from uer_ray.layers.packing import Packing


def attention_mask(
    padding_mask: torch.Tensor | None, causal: bool, q_len: int, k_len: int
) -> tuple[torch.Tensor | None, bool]:
    """The mask argument for SDPA: (mask (B,1,Tq,Tk) bool or None, is_causal flag).

    ``padding_mask`` (B,Tk) is True at padding keys. Without padding the mask is None so that SDPA
    can take its fused kernels; with padding and causality both are folded into one boolean mask
    (True = may attend)."""
    if padding_mask is None:
        return None, causal
    keep = ~padding_mask[:, None, None, :]  # (B,1,1,Tk)
    if causal:
        tri = torch.ones(q_len, k_len, dtype=torch.bool, device=padding_mask.device).tril(k_len - q_len)
        keep = keep & tri
    return keep, False


def _with_bias(bias: torch.Tensor, mask: torch.Tensor | None, is_causal: bool, tq: int,
               tk: int) -> torch.Tensor:
    """One additive float mask: ``bias`` where attending is allowed, the most negative float
    elsewhere (not -inf: a row with no key left stays finite)."""
    if is_causal:
        mask = torch.ones(tq, tk, dtype=torch.bool, device=bias.device).tril(tk - tq)
    if mask is None:
        return bias
    return torch.where(mask, bias, torch.finfo(bias.dtype).min)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
           is_causal: bool, dropout: float, bias: torch.Tensor | None = None,
           scale: float | None = None) -> torch.Tensor:
    """q (B,h,Tq,d), k/v (B,h,Tk,d), boolean ``mask`` (True = may attend) -> (B,h,Tq,d).
    ``dropout`` > 0 means training with attention dropout; ``bias`` (B|1,h,Tq,Tk) is added to
    the scores; ``scale`` multiplies QKᵀ (None: 1/√d)."""
    b, h, tq, d = q.shape
    tk = k.shape[2]
    if bias is not None:
        mask, is_causal = _with_bias(bias.to(q.dtype), mask, is_causal, tq, tk), False
    if dropout == 0.0 or q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal,
                                              dropout_p=dropout, scale=scale)
    if is_causal:
        mask = torch.ones(tq, tk, dtype=torch.bool, device=q.device).tril(tk - tq)
    if mask is None:
        bias, beta = q.new_zeros(1, 1, 1), 0.0
    else:
        # an additive mask that baddbmm adds while it computes the scores: no masked_fill pass
        # forward or backward. The most negative float rather than -inf: a row with no key left
        # stays finite.
        if mask.dtype == torch.bool:
            bias = torch.zeros(mask.shape, dtype=q.dtype, device=q.device)
            bias.masked_fill_(~mask, torch.finfo(q.dtype).min)
        else:  # already additive (a position bias)
            bias = mask
        if bias.dim() == 4:  # (B,1|h,1|Tq,Tk) -> (B·h,1|Tq,Tk)
            bias = bias.expand(b, h, bias.shape[2], tk).reshape(b * h, -1, tk)
        beta = 1.0
    scores = torch.baddbmm(bias, q.reshape(b * h, tq, d), k.reshape(b * h, tk, d).transpose(1, 2),
                           beta=beta, alpha=d**-0.5 if scale is None else scale)
    probs = drop(scores.softmax(-1), dropout)
    return torch.bmm(probs, v.reshape(b * h, tk, d)).view(b, h, tq, d)


def _fold_scale_into_queries(weight: torch.Tensor, head_dim: int) -> None:
    """Attention without the 1/sqrt(d) score scale (T5) starts where scaled attention starts:
    the query projection's initial weights are scaled by 1/sqrt(d) instead (T5 initialises
    queries with std (hidden·d)^-1/2 for this reason). Without it the first scores are sqrt(d)
    times too large and the softmax saturates."""
    with torch.no_grad():
        weight.mul_(head_dim**-0.5)


class SelfAttention(nn.Module):
    """Multi-head self-attention: (B,T,H) -> (B,T,H), or with a ``packing`` its rows (N,H) -> (N,H)
    (``uer_ray.layers.packing``)."""

    def __init__(self, hidden_size: int, heads: int, dropout: float = 0.0, bias: bool = True,
                 scale: bool = True, head_size: int | None = None):
        super().__init__()
        if head_size is None and hidden_size % heads:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by heads {heads}")
        self.heads = heads
        self.head_dim = head_size or hidden_size // heads
        inner = heads * self.head_dim
        self.dropout = dropout
        self.scale = None if scale else 1.0
        self.qkv = nn.Linear(hidden_size, 3 * inner, bias=bias)
        self.out = nn.Linear(inner, hidden_size, bias=bias)
        if not scale:
            _fold_scale_into_queries(self.qkv.weight[:inner], self.head_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, is_causal: bool,
                packing: Packing | None = None, keep: torch.Tensor | None = None,
                position_bias: torch.Tensor | None = None) -> torch.Tensor:
        """``keep`` (M,), with a packing: project out only these of the packed rows;
        ``position_bias`` (1,heads,T,T): added to the scores."""
        qkv = self.qkv(x)
        if packing is not None:
            qkv = packing.unpack(qkv)  # (B,T,3H), zeros at padding (masked out as keys)
        b, t = qkv.shape[:2]
        h = qkv.shape[2] // 3  # heads · head size
        # (B,T,3,heads,d) -> three (B,heads,T,d) views, no copies
        q, k, v = qkv.view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        y = attend(q, k, v, mask, is_causal, self.dropout if self.training else 0.0,
                   position_bias, self.scale).transpose(1, 2)
        if packing is None:
            return self.out(y.reshape(b, t, h))
        y = packing.pack(y).reshape(-1, h)
        return self.out(y if keep is None else y.index_select(0, keep))

    def cached(self, x: torch.Tensor, cache: KvCache, mask: torch.Tensor | None,
               is_causal: bool = False, position_bias: torch.Tensor | None = None) -> torch.Tensor:
        """Generation: x (B,t,H) are the next t positions of every row; their keys and values are
        written into ``cache`` at ``cache.index`` and the queries attend over the cache's first
        ``cache.visible`` positions under ``mask`` (B,1,t,visible) -> (B,t,H); ``position_bias``
        (B|1,heads,t,visible) is added to the scores."""
        b, t = x.shape[:2]
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        cache.write(k, v)
        k, v = cache.view()
        y = attend(q, k, v, mask, is_causal, 0.0, position_bias, self.scale).transpose(1, 2)
        return self.out(y.reshape(b, t, self.heads * self.head_dim))


class CrossAttention(nn.Module):
    """Multi-head attention of queries (B,Tq,H) over a memory (B,Tk,M) -> (B,Tq,H)."""

    def __init__(self, hidden_size: int, memory_size: int, heads: int, dropout: float = 0.0,
                 bias: bool = True, scale: bool = True, head_size: int | None = None):
        super().__init__()
        if head_size is None and hidden_size % heads:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by heads {heads}")
        self.heads = heads
        self.head_dim = head_size or hidden_size // heads
        inner = heads * self.head_dim
        self.dropout = dropout
        self.scale = None if scale else 1.0
        self.q = nn.Linear(hidden_size, inner, bias=bias)
        self.kv = nn.Linear(memory_size, 2 * inner, bias=bias)
        self.out = nn.Linear(inner, hidden_size, bias=bias)
        if not scale:
            _fold_scale_into_queries(self.q.weight, self.head_dim)

    def memory_kv(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values (B,heads,Tk,d) of the memory: computed once per generation."""
        b, tk = memory.shape[:2]
        k, v = self.kv(memory).view(b, tk, 2, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return k, v

    def forward(self, x: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor | None,
                memory_kv: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """``memory_kv``: the memory's keys and values from ``memory_kv`` (generation)."""
        b, tq = x.shape[:2]
        q = self.q(x).view(b, tq, self.heads, self.head_dim).transpose(1, 2)
        k, v = memory_kv if memory_kv is not None else self.memory_kv(memory)
        y = attend(q, k, v, mask, False, self.dropout if self.training else 0.0, None, self.scale)
        return self.out(y.transpose(1, 2).reshape(b, tq, self.heads * self.head_dim))


class KvCache:
    """Keys and values of one self-attention layer during generation: (B,heads,capacity,d)
    tensors filled row by row. The prompt fills positions 0..t-1 (``index`` None); after it,
    each row writes its next position at its own ``index`` (B,1), so rows of different lengths
    need no padding at the left. Attention reads the first ``visible`` positions."""

    def __init__(self, batch: int, heads: int, capacity: int, head_dim: int):
        self.shape = (batch, heads, capacity, head_dim)
        self.k: torch.Tensor | None = None  # allocated at the first write, in the keys' dtype
        self.v: torch.Tensor | None = None
        self.index: torch.Tensor | None = None
        self.visible = 0

    def write(self, k: torch.Tensor, v: torch.Tensor) -> None:
        """k, v (B,heads,t,d) at positions ``index`` (B,t) of each row, or 0..t-1."""
        if self.k is None:
            self.k, self.v = k.new_zeros(self.shape), v.new_zeros(self.shape)
        if self.index is None:
            t = k.shape[2]
            self.k[:, :, :t], self.v[:, :, :t] = k, v
            return
        rows = torch.arange(k.shape[0], device=k.device)[:, None]
        self.k[rows, :, self.index] = k.transpose(1, 2)
        self.v[rows, :, self.index] = v.transpose(1, 2)

    def view(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.k[:, :, : self.visible], self.v[:, :, : self.visible]

    def reorder(self, index: torch.Tensor) -> None:
        """Keep rows ``index`` (beam search)."""
        if self.k is not None:
            self.k, self.v = self.k.index_select(0, index), self.v.index_select(0, index)
