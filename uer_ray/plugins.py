"""Modules from outside uer_ray: an encoder, target, task (any registered module) that a user
writes in a file of their own (docs/extending.md).

A module registers itself when its file is imported. Three ways to have it imported:

- import it yourself before calling ``uer_ray.pretrain(...)`` / ``finetune`` / ``search``;
- name its module in ``UER_RAY_PLUGINS`` (comma-separated; ``python run.py ...`` needs this;
  the current folder is searched too);
- install a package that declares it under the ``uer_ray.plugins`` entry-point group.

Ray workers and Tune trials are other processes: every module registered from outside the
package in this process is recorded here (``loaded()``), travels with the work a driver sends
(the worker specs, the search context), and is imported again there (``restore``) from the
same folder. On a multi-node cluster that folder must exist on every node (the same image, a
shared disk, or Ray's ``runtime_env`` ``py_modules``).
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

ENV = "UER_RAY_PLUGINS"
ENTRY_POINTS = "uer_ray.plugins"


@dataclass(frozen=True)
class Plugin:
    """A module outside uer_ray that registered something, and the folder it imports from."""

    module: str
    path: str | None


_external: dict[str, Plugin] = {}
_configured = False


def note(obj: object) -> None:
    """Called by ``Registry.register``: remember modules that are not part of uer_ray."""
    module = getattr(obj, "__module__", "") or ""
    if module == "uer_ray" or module.startswith("uer_ray.") or module in _external:
        return
    _external[module] = Plugin(module, _import_root(module))


def _import_root(module: str) -> str | None:
    """The ``sys.path`` entry ``module`` was imported from (None for ``__main__``)."""
    mod = sys.modules.get(module)
    file = getattr(mod, "__file__", None)
    if module == "__main__" or not file:
        return None
    path = Path(file).resolve()
    depth = module.count(".") + (1 if path.name == "__init__.py" else 0)
    return str(path.parents[depth])


def loaded() -> tuple[Plugin, ...]:
    """The external modules registered in this process, in registration order."""
    return tuple(_external.values())


def restore(plugins: tuple[Plugin, ...] | list[Plugin]) -> None:
    """In a worker: import the modules a driver had registered (a no-op for those already here)."""
    for p in plugins:
        if p.module == "__main__" or p.module in sys.modules:
            continue
        if p.path and p.path not in sys.path:
            sys.path.insert(0, p.path)
        importlib.import_module(p.module)


def load_configured() -> None:
    """Import the entry-point plugins and the modules named in ``UER_RAY_PLUGINS`` (once)."""
    global _configured
    if _configured:
        return
    _configured = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINTS):
        ep.load()
    names = [n.strip() for n in os.environ.get(ENV, "").split(",") if n.strip()]
    if names and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            from uer_ray.errors import UerRayError

            raise UerRayError(f"{ENV}: cannot import {name!r} ({e})") from None
        except Exception as e:  # the plugin's own code failed: say where, in one line
            from uer_ray.errors import UerRayError

            raise UerRayError(f"{ENV}: importing {name!r} failed{_where(e)}: "
                              f"{type(e).__name__}: {e}") from None


def _where(error: BaseException) -> str:
    """`` at FILE:LINE``: the last frame of the traceback outside uer_ray (the plugin's line)."""
    import traceback

    package = str(Path(__file__).resolve().parent)
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if not f.filename.startswith(package) and "importlib" not in f.filename]
    return f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
