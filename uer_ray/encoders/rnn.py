"""``rnn``: the Elman recurrent encoder, and the recurrent base that ``lstm``, ``gru`` (Cho et al.
2014) and the bidirectional ``bilstm``/``bigru`` (ELMo, Peters et al. 2018; CoVe, McCann et al.
2017) specialise by their cell. A bidirectional output concatenates forward (first H/2) and
backward (last H/2) states.

A bidirectional encoder is two separate stacks of ``layers`` cells, one reading left to right
and one right to left, as in ELMo and UER-py: no forward state of any layer depends on a later
token, so ``bilm``'s forward language model cannot see what it predicts, and generation reads
the forward stack alone. (PyTorch's ``bidirectional=True`` would feed both directions of layer
1 into each direction of layer 2.)

Padding is at the right, so a forward pass never sees it before a real token; the backward
stack reads each sequence reversed within its real tokens. Parameter names: ``rnn.*``
(PyTorch's ``weight_ih_l0``, ``weight_hh_l0``, ...) and, bidirectional, ``rnn_backward.*``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from uer_ray.encoders.base import ENCODERS, Encoder
from uer_ray.layers.validation import require_positive, require_probability


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


@ENCODERS.register("rnn")
class RnnEncoder(Encoder):
    """(B,T,D), padding_mask (B,T) -> (B,T,H); left to right (Elman cells)."""

    Config = RnnConfig
    cell: type[nn.RNNBase] = nn.RNN
    bidirectional = False
    lr_pretrained = lr_scratch = 1e-3

    @classmethod
    def sees_future(cls, cfg: RnnConfig) -> bool:
        return cls.bidirectional

    @classmethod
    def default_pooling(cls, cfg: RnnConfig) -> str:
        return "mean"

    def __init__(self, cfg: RnnConfig, input_dim: int):
        super().__init__()
        if self.bidirectional and cfg.hidden_size % 2:
            raise ValueError(f"a bidirectional encoder needs an even hidden_size, got {cfg.hidden_size}")
        per_direction = cfg.hidden_size // 2 if self.bidirectional else cfg.hidden_size
        self.input_dim, self.output_dim = input_dim, cfg.hidden_size
        stack = dict(num_layers=cfg.layers, batch_first=True, dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.rnn = self.cell(input_dim, per_direction, **stack)
        self.rnn_backward = self.cell(input_dim, per_direction, **stack) if self.bidirectional else None

    @classmethod
    def expected_input_dim(cls, cfg: RnnConfig) -> int | None:
        return cfg.input_dim

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        forward = self.rnn(x)[0]
        if not self.bidirectional:
            return forward
        if padding_mask is None:
            return torch.cat([forward, self.rnn_backward(x.flip(1))[0].flip(1)], dim=-1)
        lengths = (~padding_mask).sum(1).clamp_min(1)
        order = _reversed_within(lengths, x.shape[1])  # (B,T): reverses each row's real tokens
        backward = self.rnn_backward(x.gather(1, order[..., None].expand_as(x)))[0]
        backward = backward.gather(1, order[..., None].expand_as(backward))
        return torch.cat([forward, backward], dim=-1)

    # -- generation: the forward stack's state carries each row on ------------------------
    incremental = True

    def start(self, x: torch.Tensor, lengths: torch.Tensor, capacity: int) -> tuple[torch.Tensor, object]:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed)
        return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0], state

    def extend(self, x: torch.Tensor, state: object) -> tuple[torch.Tensor, object]:
        return self.rnn(x, state)

    def reorder(self, state: object, index: torch.Tensor) -> object:
        if isinstance(state, tuple):  # LSTM: (h, c), each (layers, B, H)
            return tuple(s.index_select(1, index) for s in state)
        return state.index_select(1, index)


def _reversed_within(lengths: torch.Tensor, t: int) -> torch.Tensor:
    """(B,T) positions: row b reads its first ``lengths[b]`` positions backwards, then the
    padding in place. Applying it twice gives the identity."""
    pos = torch.arange(t, device=lengths.device)[None, :]
    return torch.where(pos < lengths[:, None], lengths[:, None] - 1 - pos, pos)
