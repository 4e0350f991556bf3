"""Fixtures for the zoo tests: a private zoo and cache per test (never ~/.cache), and the
loopback S3 server (tests/s3_server.py) with a fresh prefix per test."""

from __future__ import annotations

import secrets

import pytest
from s3_server import s3_server  # noqa: F401  (the session-scoped fixture)


@pytest.fixture(autouse=True)
def private_zoo(tmp_path, monkeypatch):
    """$UER_RAY_ZOO and $UER_RAY_CACHE inside the test's tmp_path; returns the zoo folder."""
    monkeypatch.setenv("UER_RAY_ZOO", str(tmp_path / "zoo"))
    monkeypatch.setenv("UER_RAY_CACHE", str(tmp_path / "cache"))
    return tmp_path / "zoo"


@pytest.fixture
def s3_zoo(s3_server):  # noqa: F811
    """A zoo URI under a fresh prefix of the bucket ``zoo`` on the loopback S3 server."""
    s3_server.make_bucket("zoo")
    return s3_server.uri("zoo", f"t-{secrets.token_hex(4)}")
