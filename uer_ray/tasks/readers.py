"""Reading fine-tuning TSV files (DESIGN §3): a header row names the columns (``label``,
``text_a``, ``text_b``, ``qid``), one example per row. Every rejection names the file and the
line (1-based, the header is line 1), and ``LabelMap`` turns labels into ids the same way for
train, dev, test and prediction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from uer_ray.errors import InputError


@dataclass(frozen=True)
class Row:
    """One data row: its 1-based line number and its cells by column name."""

    line: int
    cells: dict[str, str]


def read_tsv(path: str | Path, required: Sequence[str], optional: Sequence[str] = ()) -> list[Row]:
    """Rows of a headed TSV file, keeping only the ``required`` and ``optional`` columns.

    Raises ``InputError`` (with file and line) for a missing or empty file, a header without a
    required column, a row whose column count differs from the header's, or a file with no rows.
    Other columns are allowed and ignored, so one file can serve several tasks.
    """
    path = str(path)
    try:
        with open(path, encoding="utf-8", newline="") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except UnicodeDecodeError as e:
        line = _line_of_offset(path, e.start)
        raise InputError(f"not valid UTF-8 ({e.reason})", path, line) from None
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
    if not lines or not any(ln.strip() for ln in lines):
        raise InputError("the file is empty (expected a header row naming the columns)", path, 1)
    header = lines[0].split("\t")
    _check_header(header, required, path)
    keep = {name: header.index(name) for name in (*required, *optional) if name in header}
    rows = []
    for number, text in enumerate(lines[1:], start=2):
        if not text.strip():
            continue  # blank lines (often at the end of hand-made files) carry nothing
        cells = text.split("\t")
        if len(cells) != len(header):
            raise InputError(
                f"expected {len(header)} tab-separated columns ({', '.join(header)}), "
                f"found {len(cells)}",
                path,
                number,
            )
        rows.append(Row(number, {name: cells[i] for name, i in keep.items()}))
    if not rows:
        raise InputError("no examples after the header row", path, 1)
    return rows


def _check_header(header: list[str], required: Sequence[str], path: str) -> None:
    missing = [c for c in required if c not in header]
    if not missing:
        return
    shown = "\t".join(header)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    raise InputError(
        f"missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}: "
        f"the first line must be a header naming the columns ({', '.join(required)}); "
        f"it is {shown!r}",
        path,
        1,
    )


def _line_of_offset(path: str, offset: int) -> int:
    with open(path, "rb") as f:
        return f.read(offset).count(b"\n") + 1


class LabelMap:
    """Label strings <-> ids, built from the training file and saved with the model.

    Labels that all look like integers sort numerically ("2" after "10" would surprise), other
    labels sort as strings; ``first`` (such as "O" for tagging) goes to id 0.
    """

    def __init__(self, labels: Sequence[str]):
        self.labels = list(labels)
        self._ids = {name: i for i, name in enumerate(self.labels)}
        if len(self._ids) != len(self.labels):
            raise ValueError(f"duplicate labels in {self.labels}")

    @classmethod
    def build(cls, values: Sequence[str], first: str | None = None) -> LabelMap:
        distinct = set(values)
        try:
            ordered = sorted(distinct, key=lambda v: (int(v), v))
        except ValueError:
            ordered = sorted(distinct)
        if first is not None and first in distinct:
            ordered.remove(first)
            ordered.insert(0, first)
        return cls(ordered)

    def __len__(self) -> int:
        return len(self.labels)

    def __contains__(self, label: str) -> bool:
        return label in self._ids

    def id(self, label: str, path: str, line: int) -> int:
        """The id of ``label``; a label the training file never had is an error at path:line."""
        try:
            return self._ids[label]
        except KeyError:
            shown = ", ".join(self.labels[:20]) + (" ..." if len(self.labels) > 20 else "")
            raise InputError(
                f"label {label!r} does not occur in the training file (known labels: {shown})",
                path,
                line,
            ) from None

    def name(self, i: int) -> str:
        return self.labels[i]
