"""Hugging Face and UER-py interop (docs/interop.md): ``import_hf`` / ``export_hf`` move checkpoints
between Hugging Face folders and uer_ray, ``import_uer`` / ``export_uer`` between UER-py and uer_ray.

One file per family (``bert.py``, ``gpt2.py``) holds everything about it, registered in
``FAMILIES`` by Hugging Face ``model_type``; ``base.py`` says what a family provides. Every module
of this package is imported below, so a new family is one new file."""

import importlib
import pkgutil

from uer_ray.models.interop.base import FAMILIES, REPORT, ArchSpec, ConversionReport, Family, family
from uer_ray.models.interop.hf import (
    HF_TOKENIZER_DIR,
    HFCheckpoint,
    export_hf,
    hf_state_dict,
    import_hf,
    read_hf_checkpoint,
)
from uer_ray.models.interop.ours import canonical_from_ours, ours_from_canonical, spec_from_ours
from uer_ray.models.interop.uer import export_uer, import_uer

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")  # the family files register themselves

__all__ = [
    "FAMILIES", "HF_TOKENIZER_DIR", "REPORT", "ArchSpec", "ConversionReport", "Family", "HFCheckpoint",
    "canonical_from_ours", "export_hf", "export_uer", "family", "hf_state_dict", "import_hf",
    "import_uer", "ours_from_canonical", "read_hf_checkpoint", "spec_from_ours",
]
