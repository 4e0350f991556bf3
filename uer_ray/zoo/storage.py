"""The zoo's view of a store: a folder on any filesystem Arrow opens (a local path, ``file://``,
``s3://``, ``gs://``, ...), through ``pyarrow.fs`` -- the same code users run against AWS.

Small objects (records, aliases) are written whole: on a local filesystem through a temporary
name and a rename, on an object store by one PUT (an object appears whole or not at all).
Files are streamed in chunks while their digest (``uer_ray.zoo.digest``: sha256, in pieces for
large files) is computed on another thread; a copy between local folders reads, hashes and writes
every piece on its own thread. Every Arrow error becomes a ``ZooError`` naming the store."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.fs as pafs

from uer_ray.zoo.digest import Digest, Progress, copy_file, hash_file, piece_size_for
from uer_ray.zoo.digest import no_progress as _no_progress
from uer_ray.zoo.refs import ZooError

CHUNK = 8 << 20


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:300]


def split_uri(uri: str) -> tuple[str, str]:
    """(location, query) of a store URI: ``s3://b/zoo?endpoint_override=h:p`` ->
    (``s3://b/zoo``, ``endpoint_override=h:p``). Local paths have no query."""
    if "://" not in uri:
        return uri, ""
    location, _, query = uri.partition("?")
    return location.rstrip("/"), query


class Storage:
    """A root folder on an Arrow filesystem, opened lazily (constructing one never touches
    the network; the first read or write does)."""

    def __init__(self, uri: str):
        self.location, self.query = split_uri(str(uri))
        scheme = self.location.split("://", 1)[0] if "://" in self.location else ""
        if scheme in ("", "file"):
            path = self.location[len("file://"):] if scheme else self.location
            self.location = str(Path(os.path.expanduser(path)).absolute())
            self._fs, self.root = pafs.LocalFileSystem(), self.location
        else:
            self._fs, self.root = None, ""
        self.scheme = scheme or "file"
        self.uri = self.location if not self.query else f"{self.location}?{self.query}"

    @property
    def is_local(self) -> bool:
        return isinstance(self._fs, pafs.LocalFileSystem)

    @property
    def fs(self) -> pafs.FileSystem:
        if self._fs is None:
            try:
                self._fs, self.root = pafs.FileSystem.from_uri(self.uri)
            except (OSError, ValueError, TypeError) as e:
                raise ZooError(f"cannot open the store {self.display}: {_first_line(e)}") from None
            self.root = self.root.rstrip("/")
        return self._fs

    @property
    def display(self) -> str:
        """The store URI as shown to users (the query holds endpoints, never secrets)."""
        return self.uri

    def path(self, *parts: str) -> str:
        """The filesystem path of ``parts`` under the root."""
        self.fs  # noqa: B018  (sets self.root)
        return "/".join([self.root, *parts]) if parts else self.root

    def uri_of(self, *parts: str) -> str:
        where = "/".join([self.location, *parts])
        return f"{where}?{self.query}" if self.query else where

    @contextlib.contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Turn Arrow / OS errors inside the block into one ZooError naming the store."""
        try:
            yield
        except ZooError:
            raise
        except (OSError, ValueError) as e:
            raise ZooError(f"{what} in the store {self.display}: {_first_line(e)}") from None

    # -- listing --------------------------------------------------------------------------
    def list(self, *parts: str, recursive: bool = False) -> list[pafs.FileInfo]:
        """Entries under ``parts`` ([] when the folder does not exist)."""
        with self.errors("cannot list"):
            sel = pafs.FileSelector(self.path(*parts), allow_not_found=True, recursive=recursive)
            return self.fs.get_file_info(sel)

    def names(self, *parts: str, dirs: bool) -> list[str]:
        want = pafs.FileType.Directory if dirs else pafs.FileType.File
        return sorted(i.base_name for i in self.list(*parts) if i.type == want)

    def info(self, *parts: str) -> pafs.FileInfo:
        with self.errors("cannot stat"):
            return self.fs.get_file_info(self.path(*parts))

    # -- small objects --------------------------------------------------------------------
    def read_bytes(self, *parts: str) -> bytes | None:
        """The whole object, or None when it does not exist."""
        with self.errors("cannot read"):
            try:
                with self.fs.open_input_stream(self.path(*parts)) as f:
                    return f.read()
            except FileNotFoundError:
                return None

    def put_bytes(self, data: bytes, *parts: str) -> None:
        """Write a small object so that readers see all of it or nothing."""
        target = self.path(*parts)
        with self.errors("cannot write"):
            if not self.is_local:
                with self.fs.open_output_stream(target) as f:  # one PUT: atomic on object stores
                    f.write(data)
                return
            parent = target.rsplit("/", 1)[0]
            self.fs.create_dir(parent, recursive=True)
            tmp = f"{parent}/.tmp-{secrets.token_hex(6)}-{target.rsplit('/', 1)[1]}"
            try:
                with self.fs.open_output_stream(tmp) as f:
                    f.write(data)
                self.fs.move(tmp, target)  # rename: atomic on a local filesystem
            except BaseException:
                with contextlib.suppress(OSError):
                    self.fs.delete_file(tmp)
                raise

    def delete_file(self, *parts: str) -> None:
        with self.errors("cannot delete"):
            with contextlib.suppress(FileNotFoundError):
                self.fs.delete_file(self.path(*parts))

    def delete_dir(self, *parts: str) -> None:
        with self.errors("cannot delete"):
            with contextlib.suppress(FileNotFoundError):
                self.fs.delete_dir(self.path(*parts))

    # -- files ----------------------------------------------------------------------------
    def upload(self, local: Path, parts: tuple[str, ...], progress: Progress = _no_progress) -> dict:
        """Copy a local file to ``parts``; returns the file's record (``sha256``, ``size`` and,
        for a file of several pieces, ``piece_size``) of the bytes written."""
        with self.errors(f"cannot upload {local.name}"):
            target = self.path(*parts)
            if self.is_local:
                self.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
                return copy_local(local, Path(target), progress)
            piece = piece_size_for(os.path.getsize(local))
            with open(local, "rb") as src, self.fs.open_output_stream(target) as dst:
                return file_record(*pump(src.read, dst.write, progress, piece), piece)

    def download(self, parts: tuple[str, ...], local: Path, progress: Progress = _no_progress,
                 piece_size: int | None = None) -> tuple[str, int]:
        """Copy ``parts`` to a local file; returns (digest, size) of the bytes read, the digest
        in the scheme of a record with ``piece_size``."""
        with self.errors(f"cannot download {'/'.join(parts)}"):
            local.parent.mkdir(parents=True, exist_ok=True)
            with self.fs.open_input_stream(self.path(*parts)) as src, open(local, "wb") as dst:
                return pump(src.read, dst.write, progress, piece_size)

    def hash(self, *parts: str, piece_size: int | None = None,
             progress: Progress = _no_progress) -> tuple[str, int]:
        """(digest, size) of a stored file in the scheme of a record with ``piece_size``: on a
        local store every core hashes a piece, elsewhere it is streamed without a copy."""
        with self.errors(f"cannot read {'/'.join(parts)}"):
            if self.is_local:
                return hash_file(self.path(*parts), piece_size, progress)
            with self.fs.open_input_stream(self.path(*parts)) as src:
                return pump(src.read, None, progress, piece_size)


def file_record(digest: str, size: int, piece_size: int | None) -> dict:
    return {"sha256": digest, "size": size, **({"piece_size": piece_size} if piece_size else {})}


def pump(read: Callable[[int], bytes], write: Callable[[bytes], object] | None,
         progress: Progress = _no_progress, piece_size: int | None = None) -> tuple[str, int]:
    """Stream ``read`` into ``write`` chunk by chunk; returns (digest, bytes), the digest in the
    scheme of a record with ``piece_size`` (None: plain sha256).

    Hashing and writing of one chunk run on two threads while the next chunk is read
    (hashlib and Arrow release the GIL), so a copy with a checksum runs near the speed of the
    slower of the two rather than their sum. At most two chunks are in flight."""
    digest = Digest(piece_size)
    total = 0
    with ThreadPoolExecutor(1) as hasher, ThreadPoolExecutor(1) as writer:
        pending: deque = deque()
        while chunk := read(CHUNK):
            while len(pending) >= 2:
                for fut in pending.popleft():
                    fut.result()
            jobs = [hasher.submit(digest.update, chunk)]
            if write is not None:
                jobs.append(writer.submit(write, chunk))
            pending.append(jobs)
            total += len(chunk)
            progress(len(chunk))
        for jobs in pending:
            for fut in jobs:
                fut.result()
    return digest.hexdigest(), total


def copy_local(src: Path, dst: Path, progress: Progress = _no_progress) -> dict:
    """Copy a file between local folders, every piece read, hashed and written on its own
    thread (``digest.copy_file``); returns the record of the bytes copied. A source that
    changes meanwhile is an error, so the digest is the copy's."""
    before = os.stat(src)
    digest, size = copy_file(src, dst, progress)
    after = os.stat(src)
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or size != after.st_size:
        raise ZooError(f"{src} changed while it was being published; publish a finished checkpoint")
    return file_record(digest, size, piece_size_for(size))
