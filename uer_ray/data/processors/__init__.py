"""Processors (registry ``PROCESSORS``): corpus lines → training instances, one per file named
after it: ``mlm``, ``lm``, ``bilm``, ``ae``, ``t5`` (one document per line), ``bert``, ``sop``
(sentence pairs), ``skipthought`` (sentence triples), ``bart``, ``gsg`` (sentences of documents),
``mt``, ``cls``, ``cls_mlm``, ``prefixlm`` (tab-separated rows).
Every module of this folder is imported here, so a new processor file registers itself."""

import importlib
import pkgutil

from uer_ray.data.processors.base import PROCESSORS, Processor, ProcessorConfig

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["PROCESSORS", "Processor", "ProcessorConfig"]
