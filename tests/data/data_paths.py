"""``shared_data`` from tests/conftest.py, loaded by path.

Several test folders have their own conftest.py, and pytest keeps whichever it imported last as
the module ``conftest``, so ``from conftest import shared_data`` depends on collection order.
Loading the top-level file under its own name does not."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "uer_ray_tests_root_conftest", Path(__file__).resolve().parents[1] / "conftest.py")
_root = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root)

shared_data = _root.shared_data
REPO = _root.REPO
