"""Running UER-py (a checkout of its public repository) and uer_ray side by side: the shared
pieces of ``bench/peers.py`` and ``bench/stage2_peers.py``.

Commands run as subprocesses on the CPU with ``OMP_NUM_THREADS`` set; ``timed_lines`` records
when each output line arrived (``\\r``-separated progress updates count as lines), which is how
both tools' steady epoch times are read the same way.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def find_uer_py(given: str | None) -> Path | None:
    """``--uer-py``, else ``$UER_PY``, else ``../peers/UER-py`` beside the repository, if it holds
    UER-py's ``pretrain.py``."""
    for candidate in (given, os.environ.get("UER_PY"), str(REPO.parent / "peers" / "UER-py")):
        if candidate and (Path(candidate) / "pretrain.py").exists():
            return Path(candidate).resolve()
    if given:
        raise SystemExit(f"--uer-py {given}: no UER-py checkout there (pretrain.py is missing)")
    return None


def run_uer(uer_py: Path, script: str, *flags: str, log: Path, threads: int) -> str:
    """Run one of UER-py's scripts to completion; its output goes to ``log`` and is returned."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    with open(log, "w", encoding="utf-8") as f:
        subprocess.run([sys.executable, script, *flags], cwd=uer_py, env=env, stdout=f,
                       stderr=subprocess.STDOUT, check=True)
    return log.read_text(encoding="utf-8")


def timed_lines(cmd: list[str], *, cwd: Path, env: dict, log: Path) -> tuple[float, list[tuple[float, str]]]:
    """Run ``cmd``; returns (wall seconds, [(seconds since start, line)]). Fails with the log's
    tail if the command fails."""
    start = time.perf_counter()
    lines: list[tuple[float, str]] = []
    with open(log, "w", encoding="utf-8") as f:
        proc = subprocess.Popen(cmd, cwd=cwd, env={**env, "PYTHONUNBUFFERED": "1"},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        buf = b""
        assert proc.stdout is not None
        while True:
            try:
                chunk = proc.stdout.read1(65536)
            except KeyboardInterrupt:  # Ctrl-C: the command stops too, as it would in a shell
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                raise
            if not chunk:
                break
            now = time.perf_counter() - start
            buf += chunk
            *done, buf = buf.replace(b"\r", b"\n").split(b"\n")
            for raw in done:
                text = raw.decode("utf-8", "replace")
                if text.strip():
                    lines.append((now, text))
                    f.write(f"{now:9.3f} {text}\n")
        code = proc.wait()
    wall = time.perf_counter() - start
    if code != 0:
        tail = "\n".join(t for _, t in lines[-15:])
        raise RuntimeError(f"{' '.join(map(str, cmd[:4]))} ... failed ({code}); log {log}:\n{tail}")
    return wall, lines


def _processes_module():
    """tests/cluster/processes.py (PID-only process handling), loaded by path."""
    path = REPO / "tests" / "cluster" / "processes.py"
    spec = importlib.util.spec_from_file_location("uer_bench_processes", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


class LocalCluster:
    """A ``ray start --head`` cluster of this bench alone: its own Ray temp folder (``RAY_TMPDIR``,
    so that only commands given ``env`` find it) and a marker in its processes' environment, by which ``stop``
    ends exactly the processes it started (never ``ray stop``, which stops every cluster on
    the machine)."""

    def __init__(self, num_cpus: int):
        self.num_cpus = num_cpus
        self.tmp = Path(tempfile.mkdtemp(prefix="uer-peers-", dir="/tmp"))
        self.processes = _processes_module()
        self.env = {**os.environ, "RAY_TMPDIR": str(self.tmp),
                    self.processes.MARKER: str(self.tmp)}
        self.env.pop("RAY_ADDRESS", None)
        self.env.pop("UER_RAY_ATTACH", None)

    def start(self) -> float:
        start = time.perf_counter()
        subprocess.run([str(Path(sys.executable).with_name("ray")), "start", "--head",
                        f"--num-cpus={self.num_cpus}", "--include-dashboard=false",
                        "--disable-usage-stats"],
                       env=self.env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        return time.perf_counter() - start

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self.processes.marked_processes(str(self.tmp))
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.time() + 10
            while pids and time.time() < deadline:
                time.sleep(0.2)
                pids = self.processes.marked_processes(str(self.tmp))
            if not pids:
                break
        if not self.processes.marked_processes(str(self.tmp)):
            shutil.rmtree(self.tmp, ignore_errors=True)
