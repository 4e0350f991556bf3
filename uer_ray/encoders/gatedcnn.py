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

    def _blocks(self, x: torch.Tensor, gated) -> torch.Tensor:
        """x (B,D,T) through the convolutions, ``gated(i, conv, x)`` applying convolution i."""
        x = gated(0, self.convs[0], x)  # width changes, no residual
        for start in range(1, len(self.convs), self.block_size):
            residual = x
            for i in range(start, min(start + self.block_size, len(self.convs))):
                x = gated(i, self.convs[i], x)
            x = x + residual
        return x

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        return self._blocks(x.transpose(1, 2), lambda i, conv, y: self._gated(conv, y)).transpose(1, 2)

    # -- generation: each convolution keeps the kernel_size - 1 inputs before the next position
    incremental = True

    def start(self, x: torch.Tensor, lengths: torch.Tensor, capacity: int) -> tuple[torch.Tensor, list]:
        window = self.kernel_size - 1
        take = lengths[:, None] + torch.arange(window, device=x.device)  # in the left-padded input
        cache = []

        def gated(i, conv, y):
            padded = F.pad(y, (window, 0))
            cache.append(padded.gather(2, take[:, None, :].expand(-1, y.shape[1], -1)))
            return F.glu(conv(padded), dim=1)

        return self._blocks(x.transpose(1, 2), gated).transpose(1, 2), cache

    def extend(self, x: torch.Tensor, cache: list) -> tuple[torch.Tensor, list]:
        new = []

        def gated(i, conv, y):
            window = torch.cat([cache[i], y], dim=2)  # (B,C,kernel_size)
            new.append(window[:, :, 1:])
            return F.glu(conv(window), dim=1)

        return self._blocks(x.transpose(1, 2), gated).transpose(1, 2), new

    def reorder(self, cache: list, index: torch.Tensor) -> list:
        return [c.index_select(0, index) for c in cache]
