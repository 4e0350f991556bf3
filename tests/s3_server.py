"""A real S3-compatible server on loopback for tests: ``moto_server`` started as a subprocess in
its own process group, reached through pyarrow's S3 filesystem exactly as AWS would be.

Use the ``s3_server`` fixture (session scope; register it in a conftest with
``from s3_server import s3_server  # noqa: F401``), or ``S3Server`` directly::

    with S3Server() as s3:
        s3.make_bucket("zoo")
        uri = s3.uri("zoo", "prefix")   # s3://zoo/prefix?endpoint_override=127.0.0.1:PORT&scheme=http

While the fixture is active, ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` /
``AWS_DEFAULT_REGION`` (and ``AWS_EC2_METADATA_DISABLED``) are set in ``os.environ``, so child
processes and Ray workers inherit them. Tests are skipped, with the reason, only when the server
cannot start."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _moto_command() -> list[str] | None:
    exe = Path(sys.executable).with_name("moto_server")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("moto_server")
    return [found] if found else None


class S3Server:
    """``moto_server`` on 127.0.0.1:PORT; ``start()`` waits until it answers, ``stop()`` ends
    its process group by PID."""

    def __init__(self, port: int | None = None, timeout: float = 30.0):
        self.port = port or _free_port()
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return dict(ENV)

    def start(self) -> S3Server:
        cmd = _moto_command()
        if cmd is None:
            raise RuntimeError("moto_server is not installed (pip install 'moto[server]')")
        self._log = tempfile.NamedTemporaryFile(prefix="moto-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([*cmd, "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **ENV}, start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                urllib.request.urlopen(f"http://{self.endpoint}/", timeout=1).close()
                return self
            except OSError:
                time.sleep(0.2)
        log = Path(self._log.name).read_text(errors="replace")[-500:]
        self.stop()
        raise RuntimeError(f"moto_server did not answer on {self.endpoint}: {log.strip()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # its own group: the server and its children
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        self.proc = None
        if self._log is not None:
            self._log.close()
            os.unlink(self._log.name)
            self._log = None

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def query(self) -> str:
        return f"endpoint_override={self.endpoint}&scheme=http"

    def uri(self, bucket: str, *prefix: str) -> str:
        """The pyarrow URI of ``bucket/prefix`` on this server."""
        path = "/".join([bucket, *prefix])
        return f"s3://{path}?{self.query()}"

    def filesystem(self):
        import pyarrow.fs as pafs

        return pafs.S3FileSystem(access_key=ENV["AWS_ACCESS_KEY_ID"], secret_key=ENV["AWS_SECRET_ACCESS_KEY"],
                                 region=ENV["AWS_DEFAULT_REGION"], endpoint_override=self.endpoint,
                                 scheme="http", allow_bucket_creation=True, allow_bucket_deletion=True)

    def make_bucket(self, name: str) -> str:
        """Create ``name`` (no error when it exists); returns its name."""
        self.filesystem().create_dir(name)
        return name


@pytest.fixture(scope="session")
def s3_server():
    """A started ``S3Server`` with the AWS_* variables set for the session."""
    server = S3Server()
    try:
        server.start()
    except RuntimeError as e:
        pytest.skip(f"no loopback S3 server: {e}")
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    try:
        yield server
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
