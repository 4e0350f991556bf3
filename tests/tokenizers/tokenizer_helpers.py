"""Shared test paths for this folder (see tests/uer_testing.py for why not ``conftest``)."""

from uer_testing import REPO, data_file, shared_data  # noqa: F401  (re-exported)
