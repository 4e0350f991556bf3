"""``gatedcnn``: causal convolutions with gated linear units and residual blocks (Dauphin et al.
2017, "Language Modeling with Gated Convolutional Networks"). Nothing to the right (padding
included) reaches a token. Parameter names: ``convs.{i}.weight/bias``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from uer_ray.encoders.base import ENCODERS, Encoder
from uer_ray.encoders.cnn import CnnConfig
from uer_ray.layers.dropout import dropout


@ENCODERS.register("gatedcnn")
class GatedCnnEncoder(Encoder):
    """(B,T,D), padding_mask (B,T) -> (B,T,H); causal."""

    Config = CnnConfig
    lr_pretrained = lr_scratch = 1e-3

    @classmethod
    def sees_future(cls, cfg: CnnConfig) -> bool:
        return False

    @classmethod
    def default_pooling(cls, cfg: CnnConfig) -> str:
        return "mean"

    def __init__(self, cfg: CnnConfig, input_dim: int):
        super().__init__()
        self.input_dim, self.output_dim = input_dim, cfg.hidden_size
        self.kernel_size, self.block_size, self.dropout = cfg.kernel_size, cfg.block_size, cfg.dropout
        dims = [input_dim] + [cfg.hidden_size] * cfg.layers
        # each convolution yields 2H channels: values and gates of the GLU
        self.convs = nn.ModuleList(nn.Conv1d(a, 2 * b, cfg.kernel_size) for a, b in zip(dims[:-1], dims[1:], strict=False))

    @classmethod
    def expected_input_dim(cls, cfg: CnnConfig) -> int | None:
        return cfg.input_dim

    def _gated(self, conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
        y = F.glu(conv(F.pad(x, (self.kernel_size - 1, 0))), dim=1)  # left padding: causal
        return dropout(y, self.dropout, self.training)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        x = self._gated(self.convs[0], x.transpose(1, 2))  # (B,H,T); width changes, no residual
        rest = self.convs[1:]
        for start in range(0, len(rest), self.block_size):
            residual = x
            for conv in rest[start : start + self.block_size]:
                x = self._gated(conv, x)
            x = x + residual
        return x.transpose(1, 2)
