"""Encoder family (UER paper §3.3), registered in ``ENCODERS``: ``rnn``, ``lstm``, ``gru``,
``bilstm``, ``bigru``, ``cnn``, ``gatedcnn``, ``attention``, ``transformer``, ``gpt``;
``EncoderStack`` chains any of them."""

from uer_ray.encoders import cnn, rnn, transformer  # noqa: F401  (registration)
from uer_ray.encoders.registry import ENCODERS
from uer_ray.encoders.stack import EncoderStack

__all__ = ["ENCODERS", "EncoderStack"]
