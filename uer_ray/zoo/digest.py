"""File digests of the zoo: sha256, in 32 MiB pieces for large files so that every core hashes.

One sha256 stream runs on one core (about 1.6 GB/s here), which is slower than a page-cache
copy. So a file larger than ``PIECE`` is hashed piece by piece, the pieces in parallel, and its
digest is the sha256 of the pieces' 32-byte digests in order -- the construction S3 uses for the
composite checksum of a multipart upload. Its record says so: ``{"sha256": ..., "size": ...,
"piece_size": 33554432}``. A file of at most one piece (configs, vocabularies, the card, and
the weights of small models) has no ``piece_size`` and its digest is the file's plain sha256,
what ``sha256sum`` prints. A record without ``piece_size`` is always checked as a plain sha256,
so versions published before pieces existed still verify.

By hand: ``split -b 33554432 model.safetensors p. && sha256sum p.* | cut -c1-64 | xxd -r -p |
sha256sum``."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PIECE = 32 << 20
SLICE = 1 << 20  # read, hash and write in L2-sized slices: the bytes are hashed while cached
Progress = Callable[[int], None]

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def workers() -> int:
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def pool() -> ThreadPoolExecutor:
    """One process-wide pool of hashing threads (hashlib and os.pread release the GIL)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(workers(), thread_name_prefix="uer_ray-sha256")
        return _pool


def _forget_pool() -> None:  # a forked child has none of the parent's threads
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def piece_size_for(size: int) -> int | None:
    """The piece size a new record of a file of ``size`` bytes gets (None: a plain sha256)."""
    return PIECE if size > PIECE else None


def combine(digests: list[bytes]) -> str:
    """The digest of a file from its pieces' digests."""
    if len(digests) <= 1:  # a file of at most one piece: its own sha256
        return digests[0].hex() if digests else hashlib.sha256(b"").hexdigest()
    return hashlib.sha256(b"".join(digests)).hexdigest()


class Digest:
    """Streaming digest of one file in its record's scheme (``piece_size`` None: plain sha256).
    ``update`` takes chunks of any size, in order."""

    def __init__(self, piece_size: int | None):
        self.piece_size = piece_size
        self._h = hashlib.sha256()
        self._in_piece = 0
        self._done: list[bytes] = []

    def update(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while len(view):
            room = len(view) if self.piece_size is None else self.piece_size - self._in_piece
            part = view[:room]
            for i in range(0, len(part), SLICE):
                self._h.update(part[i : i + SLICE])
            self._in_piece += len(part)
            view = view[len(part):]
            if self.piece_size is not None and self._in_piece == self.piece_size:
                self._done.append(self._h.digest())
                self._h, self._in_piece = hashlib.sha256(), 0

    def hexdigest(self) -> str:
        if self.piece_size is None:
            return self._h.hexdigest()
        tail = [self._h.digest()] if self._in_piece or not self._done else []
        return combine(self._done + tail)


def digest_bytes(data: bytes) -> str:
    """The digest of an in-memory object, in the scheme a file of its size gets."""
    d = Digest(piece_size_for(len(data)))
    d.update(data)
    return d.hexdigest()


def _ranges(size: int, piece_size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, size, piece_size):
        yield start, min(size, start + piece_size)


def _stream(fd: int, start: int, end: int, out_fd: int | None, update: Callable[[memoryview], object]) -> None:
    """Read [start, end) of ``fd`` slice by slice into ``update`` (and ``out_fd``, same offsets)."""
    buf = bytearray(SLICE)
    view = memoryview(buf)
    pos = start
    while pos < end:
        n = os.preadv(fd, [view[: min(SLICE, end - pos)]], pos)
        if n == 0:
            raise OSError(f"the file ended at byte {pos:,} while it was being read")
        update(view[:n])
        if out_fd is not None:
            written = 0
            while written < n:
                written += os.pwrite(out_fd, view[written:n], pos + written)
        pos += n


def _piece(fd: int, start: int, end: int, out_fd: int | None) -> bytes:
    h = hashlib.sha256()
    _stream(fd, start, end, out_fd, h.update)
    return h.digest()


def _run(fd: int, size: int, piece_size: int | None, out_fd: int | None, progress: Progress) -> str:
    if piece_size is None:  # one stream (a record from before pieces, or a small file)
        h = hashlib.sha256()
        for start, end in _ranges(size, PIECE):
            _stream(fd, start, end, out_fd, h.update)
            progress(end - start)
        return h.hexdigest()
    futures = [(pool().submit(_piece, fd, start, end, out_fd), end - start)
               for start, end in _ranges(size, piece_size)]
    try:
        digests = []
        for fut, n in futures:
            digests.append(fut.result())
            progress(n)
    except BaseException:
        for fut, _ in futures:
            fut.cancel()
        for fut, _ in futures:  # no thread may touch the descriptors after they are closed
            if not fut.cancelled():
                try:
                    fut.result()
                except BaseException:  # noqa: BLE001  (the first error is the one raised)
                    pass
        raise
    return combine(digests)


def hash_file(path: str | Path, piece_size: int | None | str = "auto",
              progress: Progress | None = None) -> tuple[str, int]:
    """(digest, size) of a local file; ``piece_size`` "auto" picks the scheme a new record of a
    file this size gets, else it is the record's ``piece_size`` (None: plain sha256)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        ps = piece_size_for(size) if piece_size == "auto" else piece_size
        return _run(fd, size, ps, None, progress or no_progress), size
    finally:
        os.close(fd)


def copy_file(src: str | Path, dst: str | Path, progress: Progress | None = None) -> tuple[str, int]:
    """Copy a local file and return (digest, size) of the bytes copied, in one pass: every piece
    is read, hashed and written by one of the pool's threads, the pieces in parallel."""
    fd = os.open(src, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(out, size)
            digest = _run(fd, size, piece_size_for(size), out, progress or no_progress)
        finally:
            os.close(out)
        return digest, size
    finally:
        os.close(fd)


def no_progress(n: int) -> None:
    pass
