"""Where a search keeps its files: a folder every node sees, or a store URI (``s3://``, ``gs://``).

With a folder, every process reads and writes it directly. With a URI, the store is the
search's home and each process works in a local mirror of it
(``$UER_RAY_CACHE/search/<store>/<driver | node-ID>``, one per Ray node, so nothing passes
between nodes through a local disk):

* the driver prepares the inputs (``data/``, ``vocab.txt``, ``shards/``) in its mirror and
  pushes them before the first trial; a trial pulls them once per node;
* a trial fine-tunes into its mirror and pushes ``trials/<id>/finetune/`` before its last
  report, so a finished trial's model is in the store; a stage-2 run pushes ``stage2/<key>/``
  (``final/`` + ``metrics.json``) when it finishes, and its Ray Train checkpoints live in the
  store's ``ray/`` from the start;
* Ray Tune keeps its experiment in the store's ``tune/`` (``storage_path``), so ``--resume``
  works from any machine;
* the driver pulls the models it scores and publishes, and pushes ``search.json``, the
  leaderboard and ``metrics.json`` at the end.

Pulls go through a temporary name that is renamed into place, so two trials on one node that
pull the same folder at once never see half of it. The store code is the zoo's
(``uer_ray.zoo.storage``: pyarrow filesystems, one error line naming the store)."""

from __future__ import annotations

import functools
import os
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs


def is_remote(out: str) -> bool:
    return "://" in out and not out.startswith("file://")


@dataclass(frozen=True)
class SearchHome:
    """A search's folder (``uri``: a local path or a store URI); picklable, so trials get it."""

    uri: str

    @property
    def remote(self) -> bool:
        return is_remote(self.uri)

    def storage(self):
        return _storage(self.uri)

    def local(self, who: str | None = None) -> Path:
        """This process's folder: the search folder itself, or its mirror for ``who`` (the
        driver's by default; a trial passes its node)."""
        if not self.remote:
            return Path(self.uri.removeprefix("file://")).expanduser().absolute()
        from uer_ray.zoo.cache import cache_root, store_key

        return cache_root() / "search" / store_key(self.storage()) / (who or "driver")

    def uri_of(self, *parts: str) -> str:
        """A URI (or path) under the home, e.g. the Ray Train storage of stage-2 runs."""
        if not self.remote:
            return str(self.local().joinpath(*parts))
        return self.storage().uri_of(*parts)

    @property
    def display(self) -> str:
        return self.storage().display if self.remote else str(self.local())

    # -- transfers (no-ops for a local home) ----------------------------------------------
    def push(self, local_root: Path, *parts: str, bar: bool = False) -> None:
        """Upload the file or folder ``local_root/parts`` to the same place in the store (with
        ``bar``, a progress bar of the bytes)."""
        if not self.remote:
            return
        storage = self.storage()
        src = local_root.joinpath(*parts)
        files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
        files = [p for p in files  # not temporaries or stamps
                 if not any(part.startswith(".") for part in p.relative_to(local_root).parts)]
        from tqdm import tqdm

        with tqdm(total=sum(p.stat().st_size for p in files), unit="B", unit_scale=True,
                  desc=f"upload {'/'.join(parts)}", disable=not bar, leave=False) as progress:
            for path in files:
                storage.upload(path, path.relative_to(local_root).parts, progress.update)

    def exists(self, *parts: str) -> bool:
        if not self.remote:
            return self.local().joinpath(*parts).exists()
        return self.storage().info(*parts).type != pafs.FileType.NotFound

    def read_bytes(self, *parts: str) -> bytes | None:
        if not self.remote:
            path = self.local().joinpath(*parts)
            return path.read_bytes() if path.is_file() else None
        return self.storage().read_bytes(*parts)

    def pull(self, local_root: Path, *parts: str, refresh: bool = False) -> Path:
        """``local_root/parts``, downloaded from the store first when it is not there (or always,
        with ``refresh``). A folder arrives whole: through a temporary name and a rename."""
        dest = local_root.joinpath(*parts)
        if not self.remote or (dest.exists() and not refresh):
            return dest
        from uer_ray.zoo.refs import ZooError

        storage = self.storage()
        root = storage.path(*parts)
        info = storage.info(*parts)
        if info.type == pafs.FileType.NotFound:
            raise ZooError(f"{'/'.join(parts)} is not in the search's store {storage.display}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".tmp-{dest.name}-{secrets.token_hex(4)}"
        try:
            if info.type == pafs.FileType.File:
                storage.download(tuple(parts), tmp)
            else:
                for item in storage.list(*parts, recursive=True):
                    if item.is_file:
                        rel = item.path[len(root) + 1:]
                        storage.download((*parts, *rel.split("/")), tmp / rel)
            if refresh and dest.exists():
                _remove(dest)
            try:
                os.rename(tmp, dest)
            except OSError:  # another trial on this node put it there first
                if not dest.exists():
                    raise
        finally:
            if tmp.exists():
                _remove(tmp)
        return dest


    def mirror(self) -> Path:
        """A local copy of a search in a store, for reading (``report``): its state, results,
        data, Tune experiments and trials' models; not the Ray Train checkpoints or stage 2."""
        if not self.remote:
            return self.local()
        from uer_ray.zoo.refs import ZooError

        if not self.exists("search.json"):
            raise ZooError(f"{self.display} holds no search (no search.json)")
        local = self.local("report")
        for name in ("search.json", "metrics.json", "leaderboard.csv", "leaderboard.md",
                     "data", "tune", "repeat", "trials"):
            if self.exists(name):
                self.pull(local, name, refresh=True)
        return local


@functools.lru_cache(maxsize=16)
def _storage(uri: str):
    """One Storage per store URI in a process: its filesystem (an S3 client) is made once."""
    from uer_ray.zoo.storage import Storage

    return Storage(uri)


def top_folders(paths: Iterable[str | None]) -> list[str]:
    """The first parts of the relative paths among ``paths`` (what to push or pull), in order."""
    return list(dict.fromkeys(Path(p).parts[0] for p in paths if p and not Path(p).is_absolute()))


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def node_name() -> str:
    """This Ray node's mirror name (``node-<id prefix>``), or ``local`` outside Ray."""
    try:
        import ray

        return f"node-{ray.get_runtime_context().get_node_id()[:12]}"
    except Exception:  # noqa: BLE001  (not in a Ray worker)
        return "local"
