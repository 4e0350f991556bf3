"""``zoo import``: a Hugging Face folder or a UER-py checkpoint -- what users already own --
converted (``uer_ray.models.interop``) and published as an ``imported`` entry
whose lineage names the source."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from uer_ray.zoo.refs import slug
from uer_ray.zoo.store import EntryRef, Zoo


def import_entry(fmt: str, source: str | Path, *, zoo: str | None = None, name: str | None = None,
                 aliases=(), config=None, vocab=None, spm_model=None, tokenizer: str = "wordpiece",
                 progress=None) -> tuple[EntryRef, object]:
    """Convert ``source`` (``fmt`` ``hf`` or ``uer``) and publish it; returns (EntryRef, the
    conversion report)."""
    source = Path(source).absolute()
    with tempfile.TemporaryDirectory(prefix="uer_ray-import-") as tmp:
        out = Path(tmp) / "checkpoint"
        if fmt == "hf":
            from uer_ray.models.interop import import_hf

            report = import_hf(source, out)
            lineage = _lineage("huggingface", source, report, _hub_id(source))
            default = source.name
        else:
            from uer_ray.models.interop import import_uer

            report = import_uer(source, config, out, vocab=vocab, spm_model=spm_model, tokenizer=tokenizer)
            lineage = _lineage("uer-py", source, report, None)
            default = source.stem.removesuffix("_model")
        ref = Zoo(zoo).publish(out, name=name or slug(default), aliases=aliases, imported=lineage,
                               progress=progress)
    return ref, report


def _lineage(fmt: str, source: Path, report, base_model: str | None) -> dict:
    out = {"parent": None, "relation": "imported from", "source": str(source), "format": fmt,
           "architecture": report.architecture, "checkpoint": None, "stage": None}
    if base_model:
        out["base_model"] = base_model
    if getattr(report, "task", None):  # a fine-tuned head came along (docs/interop.md)
        out["task"] = report.task
    return out


def _hub_id(folder: Path) -> str | None:
    """The Hub id a Hugging Face folder was saved from (``_name_or_path`` like ``org/name``)."""
    try:
        name = json.loads((folder / "config.json").read_text()).get("_name_or_path") or ""
    except (OSError, ValueError):
        return None
    parts = name.split("/")
    return name if len(parts) == 2 and all(parts) and not name.startswith((".", "~")) else None
