"""Target family (UER paper §3.4), registered in ``TARGETS``: ``mlm``, ``lm``, ``bilm``, ``sp``,
``cls``, ``mt``, ``ae``; a model sums any set of them with weights."""

from uer_ray.targets import classify, lm, mlm, seq2seq  # noqa: F401  (registration)
from uer_ray.targets.base import TargetContext, TargetOutput
from uer_ray.targets.registry import TARGETS

__all__ = ["TARGETS", "TargetContext", "TargetOutput"]
