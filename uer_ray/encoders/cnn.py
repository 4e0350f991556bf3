"""``cnn``: same-width 1-D convolutions with ReLU (Kim 2014); ``CnnConfig`` is shared with
``gatedcnn``.

``cnn`` zeroes padding positions before every convolution, so a real token next to padding sees
the same zeros as at the end of an unpadded sequence. A centred kernel sees ``kernel_size // 2``
tokens to the right: this encoder sees the future. Parameter names: ``convs.{i}.weight/bias``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from uer_ray.encoders.base import ENCODERS, Encoder
from uer_ray.layers.dropout import dropout
from uer_ray.layers.validation import require_positive, require_probability


@dataclass(frozen=True, kw_only=True)
class CnnConfig:
    """Convolutional encoders (``cnn``: same-width convolutions; ``gatedcnn``: causal GLU)."""

    hidden_size: int = 128
    layers: int = 2
    kernel_size: int = 3
    block_size: int = 2
    """``gatedcnn``: a residual connection around every block of this many layers"""
    dropout: float = 0.1
    input_dim: int | None = None
    """pin the input width (None: whatever the previous stage outputs)"""

    def __post_init__(self) -> None:
        require_positive(self, "hidden_size", "layers", "kernel_size", "block_size", "input_dim")
        require_probability(self, "dropout")


@ENCODERS.register("cnn")
class CnnEncoder(Encoder):
    """(B,T,D), padding_mask (B,T) -> (B,T,H)."""

    Config = CnnConfig
    lr_pretrained = lr_scratch = 1e-3

    @classmethod
    def sees_future(cls, cfg: CnnConfig) -> bool:
        return True

    @classmethod
    def default_pooling(cls, cfg: CnnConfig) -> str:
        return "mean"

    def __init__(self, cfg: CnnConfig, input_dim: int):
        super().__init__()
        if cfg.kernel_size % 2 == 0:
            raise ValueError(f"cnn needs an odd kernel_size to keep the length, got {cfg.kernel_size}")
        self.input_dim, self.output_dim = input_dim, cfg.hidden_size
        self.dropout = cfg.dropout
        dims = [input_dim] + [cfg.hidden_size] * cfg.layers
        self.convs = nn.ModuleList(nn.Conv1d(a, b, cfg.kernel_size, padding=cfg.kernel_size // 2)
                                   for a, b in zip(dims[:-1], dims[1:], strict=False))

    @classmethod
    def expected_input_dim(cls, cfg: CnnConfig) -> int | None:
        return cfg.input_dim

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        keep = None if padding_mask is None else (~padding_mask).unsqueeze(1).to(x.dtype)  # (B,1,T)
        x = x.transpose(1, 2)  # (B,D,T)
        for conv in self.convs:
            if keep is not None:
                x = x * keep
            x = dropout(torch.relu(conv(x)), self.dropout, self.training)
        return x.transpose(1, 2)
