"""Flags for the fields of an options dataclass (``PretrainOptions``, ``FinetuneOptions``), whose
defaults are the only ones: the parser's default of every such flag is ``argparse.SUPPRESS``,
so the parsed namespace holds exactly the options the user typed — ``given(args)``, what
``pretrain --resume`` compares with the stored run — the options are built from it, and each
flag's help ends with its field's default, read from the dataclass."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


class OptionFlags:
    """``add_argument`` for the fields of ``options``: ``flags.add(group, "--steps", type=int,
    help="optimiser updates")`` shows "optimiser updates (default: 1000)"."""

    def __init__(self, options: type):
        self.options = options
        self.fields = {f.name: f for f in dataclasses.fields(options)}

    def add(self, group: Any, *flags: str, help: str | None = None, **kwargs: Any) -> argparse.Action:
        """Add a flag to ``group`` (a parser or an argument group); its ``dest`` must be a field."""
        if "default" in kwargs:
            raise TypeError(f"{flags[0]}: the default belongs in {self.options.__name__}")
        action = group.add_argument(*flags, default=argparse.SUPPRESS, help=help, **kwargs)
        if action.dest not in self.fields:
            raise TypeError(f"{flags[0]} sets {action.dest!r}, which is not a field of "
                            f"{self.options.__name__}")
        default = self.fields[action.dest].default
        # a switch says what it does; a default of None is explained by the help, if at all
        if action.nargs != 0 and default not in (dataclasses.MISSING, None):
            action.help = f"{help or ''} (default: {default})".lstrip()
        return action


def given(args: argparse.Namespace) -> set[str]:
    """The options typed on the command line (a flag typed with its default value counts)."""
    return set(vars(args))


def options_from(options: type[T], args: argparse.Namespace) -> T:
    """``options`` built from what was typed; everything else keeps the dataclass's default."""
    return options(**vars(args))
