"""From whatever a user passes as a checkpoint (a folder, a ``zoo:`` reference, a URI) to a
verified local folder."""

from __future__ import annotations

from pathlib import Path

from uer_ray.zoo.cache import fetch_uri
from uer_ray.zoo.refs import is_zoo_ref
from uer_ray.zoo.storage import Progress, _no_progress
from uer_ray.zoo.store import Zoo


def resolve_checkpoint(ref_or_path: str | Path, *, zoo: str | None = None,
                       progress: Progress | None = None) -> str:
    """A local checkpoint folder for ``ref_or_path``: a local path unchanged, ``zoo:NAME[@TAG]``
    verified (fetched first when the zoo is remote), a remote URI downloaded into the cache."""
    text = str(ref_or_path)
    if is_zoo_ref(text):
        return str(Zoo(zoo).checkout(text, progress))
    if "://" not in text:
        return text
    if text.startswith("file://"):
        return text[len("file://"):].partition("?")[0]
    return str(fetch_uri(text, progress or _no_progress))
