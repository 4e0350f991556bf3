"""Local, verified copies of zoo versions and remote checkpoints.

``resolve_checkpoint`` is what every command calls with a ``--init`` / ``--model`` / ``--input``
value: a plain local path passes through unchanged; ``zoo:NAME@TAG`` becomes a local folder whose
every file matches its recorded sha256; a remote checkpoint URI (``s3://.../final``) is
downloaded once. A remote version is fetched into the cache (``$UER_RAY_CACHE``, else
``~/.cache/uer_ray/cache``) through a temporary folder that is renamed into place when every
file has passed its check, so a damaged download is never left where a loader could find it.
A folder that passed is remembered by each file's (size, mtime, ctime, inode): a later change to
any byte changes the ctime, and the file is hashed again before use."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from pathlib import Path

from uer_ray.atomic import write_json
from uer_ray.zoo import entry as E
from uer_ray.zoo.digest import hash_file
from uer_ray.zoo.refs import ZooError, slug
from uer_ray.zoo.storage import Progress, Storage, _no_progress

CACHE_ENV = "UER_RAY_CACHE"
_SOURCE = ".source.json"


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path("~/.cache/uer_ray/cache").expanduser())


def store_key(storage: Storage) -> str:
    """A folder name for a store: readable prefix + hash of the full URI."""
    digest = hashlib.sha256(storage.uri.encode()).hexdigest()[:12]
    return f"{slug(storage.location.split('://')[-1])[-40:]}-{digest}"


def local_copy(zoo, name: str, version: str, entry: dict, progress: Progress) -> Path:
    """A verified local folder of a version: in place for a local store, else the cache copy
    (fetched when absent, fetched afresh when the cached copy fails its check)."""
    ref = f"zoo:{name}@{version}"
    wanted = expected_files(entry)
    stamp = cache_root() / "verified" / store_key(zoo.storage) / name / f"{version}.json"
    if zoo.storage.is_local:
        folder = Path(zoo.storage.path(name, "versions", version))
        check_folder(folder, wanted, stamp, ref, progress)
        return folder
    folder = cache_root() / "zoo" / store_key(zoo.storage) / name / version
    if folder.is_dir():
        try:
            check_folder(folder, wanted, stamp, ref, progress)
            return folder
        except ZooError:
            shutil.rmtree(folder, ignore_errors=True)  # a damaged cache copy: fetch it afresh
    fetch(zoo.storage, (name, "versions", version), wanted, folder, progress, ref,
          extra={E.ENTRY_FILE: E.dump(entry)})
    write_stamp(folder, wanted, stamp)  # every file was checked while it was downloaded
    return folder


def expected_files(entry: dict) -> dict[str, dict]:
    return {**entry["files"], E.CARD_FILE: {"sha256": entry["card"]["sha256"], "size": None}}


def check_folder(folder: Path, wanted: dict[str, dict], stamp_path: Path, ref: str,
                 progress: Progress) -> None:
    """Every wanted file is present with its recorded size and sha256, or a ZooError names the
    first file that is not. Files unchanged since the last check are not hashed again."""
    try:
        stamp = json.loads(stamp_path.read_text())
    except (OSError, ValueError):
        stamp = {}
    seen = {}
    for rel, want in wanted.items():
        path = folder / rel
        try:
            st = path.stat()
        except OSError:
            raise ZooError(f"{ref}: {rel} is missing from {folder}") from None
        if want.get("size") is not None and st.st_size != want["size"]:
            raise ZooError(f"{ref}: {path} has {st.st_size:,} bytes, recorded {want['size']:,} "
                           "(truncated or replaced); not loaded")
        key = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        if stamp.get(rel) != key:
            sha, _ = hash_file(path, want.get("piece_size"), progress)
            if sha != want["sha256"]:
                raise ZooError(f"{ref}: {path} fails its sha256 check (recorded {want['sha256'][:12]}…, "
                               f"found {sha[:12]}…): the stored copy is damaged; not loaded")
        seen[rel] = key
    if seen != stamp:
        write_stamp(folder, wanted, stamp_path)


def write_stamp(folder: Path, wanted: dict[str, dict], stamp_path: Path) -> None:
    stamp = {}
    for rel in wanted:
        st = (folder / rel).stat()
        stamp[rel] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
    stamp_path.parent.mkdir(parents=True, exist_ok=True)
    write_json(stamp_path, stamp)


def fetch(storage: Storage, base: tuple[str, ...], wanted: dict[str, dict | None], dest: Path,
          progress: Progress, what: str, extra: dict[str, bytes] | None = None) -> Path:
    """Download ``wanted`` files from ``base`` into ``dest`` through a temporary folder,
    checking each against its recorded sha256 and size when one is given."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".tmp-{dest.name}-{secrets.token_hex(4)}"
    try:
        for rel, want in wanted.items():
            sha, size = storage.download((*base, *rel.split("/")), tmp / rel, progress,
                                         (want or {}).get("piece_size"))
            if want and want.get("size") is not None and size != want["size"]:
                raise ZooError(f"{what}: {rel} has {size:,} bytes in the store, recorded "
                               f"{want['size']:,} (truncated); not loaded")
            if want and sha != want["sha256"]:
                raise ZooError(f"{what}: {rel} fails its sha256 check (recorded {want['sha256'][:12]}…, "
                               f"found {sha[:12]}…): the stored copy is damaged; not loaded")
        for rel, data in (extra or {}).items():
            (tmp / rel).write_bytes(data)
        try:
            os.rename(tmp, dest)
        except OSError:  # another process put the same copy in place first
            if not dest.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def fetch_uri(uri: str, progress: Progress = _no_progress) -> Path:
    """A local copy of the checkpoint folder at a remote URI (a zoo version folder is checked
    against its entry; a ``pretrain --out`` folder gives its ``final/`` plus the record).
    The copy is reused while the remote listing (names, sizes, times) is unchanged."""
    storage = Storage(uri)
    root = storage.path()
    listing = {i.path[len(root) + 1:]: i for i in storage.list(recursive=True) if i.is_file}
    if not listing:
        raise ZooError(f"{uri}: no files there (not a checkpoint folder, or unreachable)")
    marker = storage.read_bytes(E.ENTRY_FILE) if E.ENTRY_FILE in listing else None
    entry = E.parse_entry(marker, uri) if marker else None
    sub = "final/" if "config.json" not in listing and "final/config.json" in listing else ""
    if entry is not None:
        wanted: dict = expected_files(entry)
    else:
        wanted = {rel: None for rel in listing if _keep(rel, sub)}
    if "config.json" not in listing and not sub:
        raise ZooError(f"{uri}: not a checkpoint folder (no config.json, no final/config.json)")
    signature = {rel: [listing[rel].size, str(listing[rel].mtime)] for rel in wanted if rel in listing}
    dest = cache_root() / "uri" / store_key(storage)
    if (dest / _SOURCE).is_file() and json.loads((dest / _SOURCE).read_text()) == signature:
        return dest / sub.rstrip("/") if sub else dest
    if dest.exists():
        shutil.rmtree(dest, ignore_errors=True)  # the remote folder changed since the last fetch
    extra = {_SOURCE: json.dumps(signature).encode()}
    if entry is not None:
        extra[E.ENTRY_FILE] = marker
    fetch(storage, (), wanted, dest, progress, uri, extra=extra)
    return dest / sub.rstrip("/") if sub else dest


def _keep(rel: str, sub: str) -> bool:
    parts = rel.split("/")
    if any(p.startswith(".") or p == "wandb" for p in parts):
        return False
    return rel.startswith(sub) or (sub and rel == "metrics.json")
