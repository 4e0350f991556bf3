"""``cls_mlm``: the ``cls`` instances, for a model trained with both the ``cls`` and ``mlm`` targets
(masking happens at collate time)."""

from __future__ import annotations

from uer_ray.data.processors.base import PROCESSORS
from uer_ray.data.processors.cls import ClsProcessor


@PROCESSORS.register("cls_mlm")
class ClsMlmProcessor(ClsProcessor):
    """The ``cls`` instances, for a model trained with both ``cls`` and ``mlm`` targets."""

