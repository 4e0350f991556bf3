"""Layers: the written-out attention used under dropout equals scaled_dot_product_attention."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from uer_ray.layers.activations import get_activation
from uer_ray.layers.attention import attend, attention_mask


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_training_attention_path_matches_sdpa(causal, padded):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 6, 4) for _ in range(3))
    padding = torch.zeros(2, 6, dtype=torch.bool)
    if padded:
        padding[1, 4:] = True
    mask, is_causal = attention_mask(padding if padded else None, causal, 6, 6)
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal)
    # a vanishing dropout keeps every weight: the written-out path must give SDPA's numbers
    written_out = attend(q, k, v, mask, is_causal, 1e-12)
    torch.testing.assert_close(written_out, reference, atol=1e-6, rtol=1e-5)
    assert torch.equal(attend(q, k, v, mask, is_causal, 0.0), reference)


def test_attention_dropout_changes_weights_only_in_training_path():
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 1, 50, 8) for _ in range(3))
    dropped = attend(q, k, v, None, False, 0.5)
    assert not torch.allclose(dropped, attend(q, k, v, None, False, 0.0))


def test_activations_by_name():
    x = torch.linspace(-3, 3, 7)
    torch.testing.assert_close(get_activation("gelu")(x), F.gelu(x))
    torch.testing.assert_close(get_activation("gelu_tanh")(x), F.gelu(x, approximate="tanh"))
    with pytest.raises(ValueError, match="unknown activation 'gelu_new'"):
        get_activation("gelu_new")
