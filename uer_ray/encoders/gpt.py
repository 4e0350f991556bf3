"""``gpt``: the causal Transformer of GPT-2 (Radford et al. 2019): ``transformer`` with GPT-2's
defaults (causal, pre-LN, tanh GELU, a final LayerNorm, eps 1e-5)."""

from __future__ import annotations

from dataclasses import dataclass

from uer_ray.encoders.base import ENCODERS
from uer_ray.encoders.transformer import Activation, Mask, TransformerConfig, TransformerEncoder


@dataclass(frozen=True, kw_only=True)
class GptConfig(TransformerConfig):
    """The causal transformer of GPT-2 (Radford et al. 2019): pre-LN, tanh GELU, eps 1e-5."""

    act: Activation = "gelu_tanh"
    pre_ln: bool = True
    mask: Mask = "causal"
    layernorm_eps: float = 1e-5


@ENCODERS.register("gpt")
class GptEncoder(TransformerEncoder):
    """The transformer with GPT-2's defaults (causal, pre-LN, gelu_tanh, final LayerNorm)."""

    Config = GptConfig
