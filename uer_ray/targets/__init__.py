"""Target family (UER paper §3.4), registered in ``TARGETS``: one file per target, named after it
(``mlm``, ``lm``, ``bilm``, ``sp``, ``cls``, ``mt``, ``ae``, ``skipthought``); a model sums any
set of them with weights. Every module of this folder is imported here, so a new target file registers itself."""

import importlib
import pkgutil

from uer_ray.targets.base import TARGETS, Target, TargetContext, TargetOutput

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["TARGETS", "Target", "TargetContext", "TargetOutput"]
