"""Where Ray Train keeps a run's checkpoints and run snapshot: ``OUT/ray/NAME`` by default, else
``STORAGE/NAME`` for a storage the caller names — a folder that every node sees, or a URI that
Arrow's filesystems open (``s3://bucket/runs?endpoint_override=HOST:PORT&scheme=http``,
``gs://bucket/runs``), which is what a cluster without a shared disk uses.

Ray Train itself reads and writes the storage (the workers upload checkpoints, the driver reads
the last one); this module answers the driver's own questions — is there a run called NAME
already (``--resume`` / ``--overwrite``), forget it — through the same ``pyarrow.fs``
filesystems, so a URI storage behaves like a local folder. Credentials come from the
environment (AWS_* variables, an instance profile, a service account), never from the URI.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from uer_ray.errors import UerRayError


def is_uri(storage: str | None) -> bool:
    """True for ``scheme://...`` storages other than ``file://`` (local paths are not URIs)."""
    return bool(storage) and "://" in storage and not storage.startswith("file://")


def storage_path(out_dir: str | Path, storage: str | None = None) -> str:
    """What Ray Train gets as ``storage_path``: the URI as given, or an absolute folder (Ray
    requires one): ``storage`` when given, else ``OUT/ray``."""
    if is_uri(storage):
        return storage
    if storage:
        local = storage[len("file://"):] if storage.startswith("file://") else storage
        return str(Path(local).expanduser().absolute())
    return str(Path(out_dir).expanduser().absolute() / "ray")


def run_folder(out_dir: str | Path, name: str) -> Path:
    """Ray Train's folder for run ``name`` in the default storage (``OUT/ray/NAME``)."""
    return Path(storage_path(out_dir)) / name


def run_location(out_dir: str | Path, name: str, storage: str | None = None) -> str:
    """The run's folder as shown to users: ``OUT/ray/NAME``, ``/shared/NAME`` or
    ``s3://bucket/runs/NAME?...`` (a URI's query holds endpoints, never secrets)."""
    root = storage_path(out_dir, storage)
    if not is_uri(root):
        return str(Path(root) / name)
    location, _, query = root.partition("?")
    where = f"{location.rstrip('/')}/{name}"
    return f"{where}?{query}" if query else where


def _open(out_dir: str | Path, name: str, storage: str | None):
    """(filesystem, path of the run folder on it)."""
    import pyarrow.fs as pafs

    root = storage_path(out_dir, storage)
    if not is_uri(root):
        return pafs.LocalFileSystem(), str(Path(root) / name)
    try:
        fs, path = pafs.FileSystem.from_uri(root)
    except (OSError, ValueError, TypeError) as e:
        raise StorageError(root, "cannot open", e) from None
    return fs, f"{path.rstrip('/')}/{name}"


def has_run(out_dir: str | Path, name: str, storage: str | None = None) -> bool:
    """Whether the storage already holds a (possibly stopped) run called ``name``."""
    import pyarrow.fs as pafs

    fs, path = _open(out_dir, name, storage)
    try:
        found = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    except OSError as e:
        raise StorageError(run_location(out_dir, name, storage), "cannot list", e) from None
    return bool(found)


def clear_run(out_dir: str | Path, name: str, storage: str | None = None) -> None:
    """Forget a previous run called ``name`` (every checkpoint and Ray's run snapshot), so
    that the next ``fit`` starts fresh."""
    fs, path = _open(out_dir, name, storage)
    try:
        with contextlib.suppress(FileNotFoundError):
            fs.delete_dir(path)
    except OSError as e:
        raise StorageError(run_location(out_dir, name, storage), "cannot delete", e) from None


class StorageError(UerRayError):
    """The run's storage cannot be reached or changed: one line naming it and Arrow's reason."""

    def __init__(self, where: str, what: str, cause: BaseException):
        reason = (str(cause).strip() or type(cause).__name__).splitlines()[0][:300]
        super().__init__(f"{what} the run storage {where}: {reason}")
