"""Exceptions that carry a message meant for the user (file, line, what is wrong)."""

from __future__ import annotations


class UerRayError(Exception):
    """Base class: the CLI prints these as one line, without a traceback."""


class InputError(UerRayError, ValueError):
    """Bad input data: the message names the file and line."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        where = f"{path}:{line}: " if path is not None and line is not None else (f"{path}: " if path else "")
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line


class MismatchError(UerRayError, ValueError):
    """A checkpoint, vocabulary or config that does not match its use; says what differs."""
