"""The CPU dropout keeps each element with probability 1 - p, scales kept ones by 1 / (1 - p),
passes gradients through the kept elements only, and is the identity in eval mode."""

from __future__ import annotations

import pytest
import torch

from uer_ray.layers.dropout import dropout


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_keep_rate_scale_and_gradient(p):
    torch.manual_seed(0)
    x = torch.full((400, 500), 2.0, requires_grad=True)
    y = dropout(x, p, True)
    kept = y != 0
    assert abs(kept.float().mean().item() - (1 - p)) < 0.005  # 200k draws: sd ~0.001
    assert torch.allclose(y[kept], torch.tensor(2.0 / (1 - p)))
    y.sum().backward()
    assert torch.equal(x.grad != 0, kept)
    assert torch.allclose(x.grad[kept], torch.tensor(1.0 / (1 - p)))


def test_identity_when_off_and_seeded():
    x = torch.randn(8, 16)
    assert dropout(x, 0.1, False) is x and dropout(x, 0.0, True) is x
    torch.manual_seed(3)
    a = dropout(x, 0.3, True)
    torch.manual_seed(3)
    assert torch.equal(a, dropout(x, 0.3, True))
    assert torch.equal(dropout(x, 1.0, True), torch.zeros_like(x))
