"""Reading corpus files in chunks: planning byte ranges that start on a line (or document)
boundary, decoding them, and counting what is skipped with ``file:line`` examples (DESIGN §7).

A chunk plan depends only on the files' bytes and the chunk size, never on the number of
workers, so the same input always gives the same instances.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field
from pathlib import Path

from uer_ray.errors import InputError

MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Chunk:
    """Bytes ``[start, end)`` of ``path``; its first line is line ``first_line`` (1-based)."""

    index: int
    path: str
    start: int
    end: int
    first_line: int


@dataclass
class SkipLog:
    """Counts of skipped lines per reason, with a few ``file:line`` examples each."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, path: str, line: int) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < MAX_EXAMPLES:
            ex.append(f"{path}:{line}")

    def merge(self, other: dict) -> None:
        """Fold in another log's ``to_dict()`` (chunks arrive in any order; examples are sorted
        by chunk later, so merge in chunk order for stable examples)."""
        for reason, n in other["counts"].items():
            self.counts[reason] = self.counts.get(reason, 0) + n
            ex = self.examples.setdefault(reason, [])
            ex.extend(other["examples"].get(reason, [])[: MAX_EXAMPLES - len(ex)])

    def to_dict(self) -> dict:
        return {"counts": dict(sorted(self.counts.items())), "examples": dict(sorted(self.examples.items()))}

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def check_files(paths: list[str | Path]) -> list[Path]:
    """Every corpus file exists and is a file; an empty corpus is an error."""
    if not paths:
        raise InputError("no corpus file given")
    out = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise InputError("corpus file not found", str(p))
        if not p.is_file():
            raise InputError("corpus path is not a file", str(p))
        out.append(p)
    if sum(p.stat().st_size for p in out) == 0:
        raise InputError("the corpus is empty (0 bytes)", ", ".join(map(str, out)))
    return out


def chunk_size_for(total_bytes: int, chunk_mb: float | None) -> int:
    """Bytes per chunk: the user's choice, else 1/8 of the corpus within [1 MiB, 32 MiB]."""
    if chunk_mb:
        return max(1, int(chunk_mb * 2**20))
    return int(min(32 * 2**20, max(2**20, total_bytes // 8)))


def plan_chunks(paths: list[Path], chunk_bytes: int, by_document: bool) -> list[Chunk]:
    """Split each file into ranges of about ``chunk_bytes``, cut after a newline (after a blank
    line when ``by_document``, so documents stay whole). Files are memory-mapped, not read."""
    chunks: list[Chunk] = []
    seps = (b"\n\n", b"\n\r\n") if by_document else (b"\n",)
    for path in paths:
        size = path.stat().st_size
        if size == 0:
            continue
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            start, line = 0, 1
            while start < size:
                cut = size
                if start + chunk_bytes < size:
                    hits = [(h + len(s)) for s in seps if (h := data.find(s, start + chunk_bytes)) >= 0]
                    cut = min(hits) if hits else size
                chunks.append(Chunk(len(chunks), str(path), start, cut, line))
                line += data[start:cut].count(b"\n")
                start = cut
    return chunks


def read_chunk(chunk: Chunk, skips: SkipLog, max_line_chars: int) -> tuple[list[str], list[int]]:
    """Decoded lines of ``chunk`` with their 1-based line numbers. Undecodable and over-long
    lines are skipped and logged; empty lines are kept (processors decide what they mean)."""
    with open(chunk.path, "rb") as f:
        f.seek(chunk.start)
        data = f.read(chunk.end - chunk.start)
    try:
        lines = data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        lines = _decode_lines(data.split(b"\n"), chunk, skips)
    if lines and lines[-1] == "" and data.endswith(b"\n"):
        lines.pop()
    if chunk.start == 0 and lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]  # byte-order mark
    numbers = list(range(chunk.first_line, chunk.first_line + len(lines)))
    keep_text, keep_no = [], []
    name = chunk.path
    for text, no in zip(lines, numbers, strict=True):
        if text is None:
            continue
        if text.endswith("\r"):
            text = text[:-1]
        if len(text) > max_line_chars:
            skips.add("too_long", name, no)
            continue
        keep_text.append(text)
        keep_no.append(no)
    return keep_text, keep_no


def _decode_lines(raw: list[bytes], chunk: Chunk, skips: SkipLog) -> list[str | None]:
    out: list[str | None] = []
    name = chunk.path
    for i, b in enumerate(raw):
        try:
            out.append(b.decode("utf-8"))
        except UnicodeDecodeError:
            skips.add("undecodable", name, chunk.first_line + i)
            out.append(None)
    return out
