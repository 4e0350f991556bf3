"""Processes of a test cluster, by PID only: free ports, process-group members, the marker
sweep. Nothing here matches processes by name (no pkill), so other Ray clusters on the machine
are never touched."""

from __future__ import annotations

import os
import random
import signal
import socket
from pathlib import Path

MARKER = "UER_RAY_TEST_CLUSTER"
# A loopback address Ray keeps as given: it rewrites "127.0.0.1" and "localhost" into the
# machine's outward address, which would put the test cluster on the network interface.
LOOPBACK = "127.0.0.2"


# Ports are drawn between Ray's worker range (10002-19999) and the kernel's ephemeral range
# (32768-60999 here): a port from the ephemeral range can be taken by any outgoing connection
# on the machine in the seconds before Ray binds it (seen: a node's runtime-env agent failed
# with "Address already in use", and the node with it).
_given: set[int] = set()


def _port_range() -> tuple[int, int]:
    """From 20000 up to the start of this machine's ephemeral range (else above its end)."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    if low > 21000:
        return 20000, low - 1
    return (high + 1, 65535) if high < 64000 else (20000, 65535)


def free_port() -> int:
    """A TCP port nobody listens on now, on any interface (some Ray servers bind them all),
    never handed out twice by this process."""
    rng, span = random.Random(), _port_range()
    for _ in range(1000):
        port = rng.randint(*span)
        if port in _given:
            continue
        try:
            for host in (LOOPBACK, "0.0.0.0"):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    s.bind((host, port))
        except OSError:
            continue
        _given.add(port)
        return port
    raise RuntimeError(f"no free port in {span}")


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
