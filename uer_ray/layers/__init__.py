"""Building blocks shared by embeddings, encoders, decoders and targets: activations,
attention (scaled_dot_product_attention), feed-forward, transformer blocks."""

from uer_ray.layers.activations import get_activation
from uer_ray.layers.attention import CrossAttention, SelfAttention, attention_mask
from uer_ray.layers.feed_forward import FeedForward
from uer_ray.layers.transformer_layer import TransformerDecoderLayer, TransformerLayer

__all__ = [
    "CrossAttention", "FeedForward", "SelfAttention", "TransformerDecoderLayer",
    "TransformerLayer", "attention_mask", "get_activation",
]
