"""``rnn``: the Elman recurrent encoder, and the recurrent base that ``lstm``, ``gru`` (Cho et al.
2014) and the bidirectional ``bilstm``/``bigru`` (ELMo, Peters et al. 2018; CoVe, McCann et al.
2017) specialise by their cell. A bidirectional output concatenates forward (first H/2) and
backward (last H/2) states.

Padding is at the right, so a forward pass never sees it before a real token; bidirectional
encoders pack the sequences so the backward pass starts at each sequence's last real token.
Parameter names: ``rnn.*`` (PyTorch's ``weight_ih_l0``, ``weight_hh_l0``, ...).
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
        self.rnn = self.cell(input_dim, per_direction, num_layers=cfg.layers, batch_first=True,
                             dropout=cfg.dropout if cfg.layers > 1 else 0.0,
                             bidirectional=self.bidirectional)

    @classmethod
    def expected_input_dim(cls, cfg: RnnConfig) -> int | None:
        return cfg.input_dim

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        if padding_mask is None or not self.bidirectional:
            return self.rnn(x)[0]
        lengths = (~padding_mask).sum(1).clamp_min(1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=x.shape[1])
        return out
