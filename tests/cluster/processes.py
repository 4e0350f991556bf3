"""Processes of a test cluster, by PID only: free ports, process-group members, the marker
sweep. Nothing here matches processes by name (no pkill), so other Ray clusters on the machine
are never touched."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

MARKER = "UER_RAY_TEST_CLUSTER"
# A loopback address Ray keeps as given: it rewrites "127.0.0.1" and "localhost" into the
# machine's outward address, which would put the test cluster on the network interface.
LOOPBACK = "127.0.0.2"


def free_port() -> int:
    """A TCP port free on the loopback address now (from the kernel's ephemeral range, 32768-60999 here,
    hence outside Ray's worker port range 10002-19999)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def marked_processes(root: str) -> list[int]:
    """Live PIDs whose environment holds ``MARKER=root`` (zombies excluded)."""
    needle = f"{MARKER}={root}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) PIDs in process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def signal_group(pgid: int, sig: int) -> list[int]:
    """Send ``sig`` to process group ``pgid`` (one we created); returns its live members."""
    members = group_members(pgid)
    if members:
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass
    return members


def kill_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
