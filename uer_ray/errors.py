"""The project's exceptions: one family, so the command line prints every user mistake as one line
(``uer-ray CMD: error: ...``, exit status 2) and never as a traceback.

    UerRayError                 base class; the CLI catches it
    ├── InputError              bad input data or a missing file: names the file and line
    ├── MismatchError           a checkpoint, vocabulary or config that does not match its use
    ├── ConfigError             a config dict that does not fit its dataclass: names the key path
    ├── UnknownNameError        a name no module registered: lists the close matches
    └── OptionsError            options of a stage that contradict each other or a stored run

``ConfigError``, ``InputError`` and ``MismatchError`` are also ``ValueError`` and
``UnknownNameError`` a ``KeyError``, so code that catches the builtin kinds keeps working.
"""

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


class ConfigError(UerRayError, ValueError):
    """A config dict that does not fit its dataclass; the message names the key path."""


class UnknownNameError(UerRayError, KeyError):
    """Raised for a name that no module registered; the message lists the close matches."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class OptionsError(UerRayError, ValueError):
    """Options of a stage that contradict each other, or a resumed run's stored options."""
