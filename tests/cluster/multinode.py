"""A real multi-node Ray cluster on this machine: ``ray start`` processes on loopback.

``LocalCluster`` starts a head (``ray start --head --block``, 0 CPUs by default so that it runs
no training, as on a real cluster) and any number of worker nodes (``ray start --address ...
--block``), each as its own process group with its own ``--temp-dir``, every port chosen free,
nodes addressing each other at 127.0.0.2 (Ray still binds some servers on all interfaces; the
token keeps strangers out), and token authentication on with a token of its own
(``RAY_AUTH_MODE=token`` + ``RAY_AUTH_TOKEN``; nothing is read from or written to ``~/.ray``).
It stops exactly what it started: SIGTERM to each ``ray start`` (which stops its node), then
SIGKILL to what is left of that process group, then a sweep for any process that still carries
this cluster's marker in its environment (every Ray process inherits it), all by PID. It never
runs ``ray stop``, which would stop every Ray process on the machine.

The temp dir is short (``/tmp/uerc-XXXXXX``), not under pytest's ``tmp_path``: Ray puts Unix
sockets at ``TEMP/session_<timestamp>/sockets/...`` and a socket path may not exceed 107 bytes.

Drivers never run in the calling process (it must not connect to two clusters, nor to the
shared test session's): jobs go through ``ray job submit`` and the dashboard's HTTP API, and
``run_driver`` starts a plain subprocess attached with ``RAY_ADDRESS``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from processes import (
    LOOPBACK,
    MARKER,
    free_port,
    group_members,
    kill_pid,
    marked_processes,
    signal_group,
)

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
OBJECT_STORE_BYTES = 100 * 2**20


@dataclass
class Node:
    """One ``ray start --block`` process (the leader of its own process group)."""

    name: str
    proc: subprocess.Popen
    log: Path
    temp_dir: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@dataclass
class Job:
    """A submitted job: its id and, once ``wait`` returned, its final status and logs."""

    submission_id: str
    status: str = "PENDING"
    logs: str = ""
    timings: dict[str, float] = field(default_factory=dict)


class LocalCluster:
    """A head plus worker nodes on 127.0.0.1; use as a context manager."""

    def __init__(self, *, name: str = "c", env: dict[str, str] | None = None):
        self.root = Path(tempfile.mkdtemp(prefix=f"uerc-{name}-", dir="/tmp"))
        self.token = secrets.token_hex(32)
        self.gcs_port = free_port()
        self.dashboard_port = free_port()
        self.extra_env = dict(env or {})
        self.nodes: list[Node] = []
        self.head: Node | None = None
        self._count = 0

    # ---- environment and addresses -------------------------------------------------------

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.gcs_port}"

    @property
    def dashboard(self) -> str:
        return f"http://{LOOPBACK}:{self.dashboard_port}"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of every process of this cluster and of its clients."""
        env = dict(os.environ)
        for key in ("RAY_ADDRESS", "RAY_AUTH_TOKEN_PATH"):
            env.pop(key, None)
        env.update(
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
            RAY_TMPDIR=str(self.root),
            RAY_AUTH_MODE="token",
            RAY_AUTH_TOKEN=self.token,
            RAY_USAGE_STATS_ENABLED="0",
            RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",
            WANDB_MODE=env.get("WANDB_MODE", "offline"),
            WANDB_SILENT="true",
            TOKENIZERS_PARALLELISM="false",
            **{MARKER: str(self.root)},
        )
        env.update(self.extra_env)
        env.update(extra)
        return env

    def _node_ports(self) -> list[str]:
        """Ports that would collide between nodes of one machine if left at Ray's defaults."""
        names = (
            "node-manager-port",
            "object-manager-port",
            "dashboard-agent-listen-port",
            "dashboard-agent-grpc-port",
            "metrics-export-port",
            "runtime-env-agent-port",
        )
        return [f"--{n}={free_port()}" for n in names]

    def _spawn(self, name: str, args: list[str], env: dict[str, str], own_temp: bool = True) -> Node:
        # without a --temp-dir of its own a node uses $RAY_TMPDIR/ray, as `ray start` does for
        # a user, and records its address there for drivers to find
        temp = self.root / name if own_temp else self.root / "ray"
        temp.mkdir(parents=True, exist_ok=True)
        log = self.root / f"{name}.log"
        temp_flag = [f"--temp-dir={temp}"] if own_temp else []
        cmd = [str(BIN / "ray"), "start", "--block", *temp_flag, *args]
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        node = Node(name, proc, log, temp)
        self.nodes.append(node)
        return node

    # ---- starting nodes ------------------------------------------------------------------

    def start_head(
        self, *, num_cpus: int = 0, autoscaling_config: Path | None = None, timeout: float = 90,
        own_temp: bool = True,
    ) -> Node:
        """Start the head and wait until its dashboard answers. ``own_temp=False``: in
        ``$RAY_TMPDIR/ray`` like a user's ``ray start``, where drivers look for a running
        cluster."""
        args = [
            "--head",
            f"--node-ip-address={LOOPBACK}",
            f"--port={self.gcs_port}",
            f"--num-cpus={num_cpus}",
            f"--object-store-memory={OBJECT_STORE_BYTES}",
            "--include-dashboard=true",
            f"--dashboard-host={LOOPBACK}",
            f"--dashboard-port={self.dashboard_port}",
            f"--ray-client-server-port={free_port()}",
            "--disable-usage-stats",
            *self._node_ports(),
        ]
        env = self.env()
        if autoscaling_config is not None:
            args.append(f"--autoscaling-config={self._fake_config(autoscaling_config)}")
            # Ray's fake provider: nodes are started by the autoscaler in the head's monitor;
            # without the cluster flag Ray keeps their addresses on loopback.
            env.update(
                RAY_FAKE_CLUSTER="1",
                AUTOSCALER_UPDATE_INTERVAL_S="1",
                RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
            )
        self.head = self._spawn("head", [*args, "--node-name=head"], env, own_temp=own_temp)
        self.wait_until(lambda: "head" in self.node_names(), timeout, "the head to start")
        return self.head

    def _fake_config(self, template: Path) -> Path:
        """The shipped fake-provider config with this head's GCS address filled in."""
        config = yaml.safe_load(template.read_text())
        config["provider"]["gcs_address"] = self.address
        path = self.root / "autoscaler.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    def add_worker(self, *, num_cpus: int = 1, wait: bool = True, timeout: float = 90) -> Node:
        """Start a worker node; with ``wait`` return once the head counts it alive."""
        self._count += 1
        name = f"w{self._count}"
        node = self._spawn(
            name,
            [
                f"--address={self.address}",
                f"--node-name={name}",
                f"--node-ip-address={LOOPBACK}",
                f"--num-cpus={num_cpus}",
                f"--object-store-memory={OBJECT_STORE_BYTES}",
                "--disable-usage-stats",
                *self._node_ports(),
            ],
            self.env(),
        )
        if wait:
            self.wait_until(lambda: name in self.node_names(), timeout, f"node {name} to join")
        return node

    # ---- observing -----------------------------------------------------------------------

    def _get(self, path: str):
        """JSON from the dashboard's HTTP API (None while it does not answer)."""
        req = urllib.request.Request(
            self.dashboard + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                body = r.read().decode()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None
        try:
            return json.loads(body)
        except json.JSONDecodeError:
            return body

    def alive_nodes(self) -> list[dict]:
        """The nodes the head counts alive (head included): the State API's node records."""
        reply = self._get("/api/v0/nodes?limit=1000&detail=true")
        if not isinstance(reply, dict):
            return []
        rows = reply.get("data", {}).get("result", {}).get("result", [])
        return [r for r in rows if r.get("state") == "ALIVE"]

    def node_names(self) -> list[str]:
        """``--node-name`` of each alive node (``head``, ``w1``, ...; fake nodes: their IP)."""
        return [n.get("node_name", "") for n in self.alive_nodes()]

    def worker_nodes(self) -> list[dict]:
        return [n for n in self.alive_nodes() if not n.get("is_head_node")]

    def actors(self, class_name: str) -> list[dict]:
        """The State API's records of actors of ``class_name``, dead ones included."""
        query = f"/api/v0/actors?limit=10000&detail=true&filter_keys=class_name&filter_predicates=%3D&filter_values={class_name}"
        reply = self._get(query)
        if not isinstance(reply, dict):
            return []
        return reply.get("data", {}).get("result", {}).get("result", [])

    def node_ids(self) -> dict[str, str]:
        """Node name (``--node-name``) -> node id, for the alive nodes."""
        return {n.get("node_name", ""): n["node_id"] for n in self.alive_nodes()}

    def wait_for_nodes(self, count: int, timeout: float, *, workers_only: bool = False) -> None:
        """Wait until exactly ``count`` nodes (or worker nodes) are alive."""
        nodes = self.worker_nodes if workers_only else self.alive_nodes
        what = "worker nodes" if workers_only else "nodes"
        self.wait_until(lambda: len(nodes()) == count, timeout, f"{count} alive {what}")

    def wait_until(self, ok, timeout: float, what: str, every: float = 0.5) -> None:
        """Poll ``ok()`` until it is true; fails on timeout or when the head exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ok():
                return
            if self.head is not None and not self.head.alive():
                raise RuntimeError(f"the head exited while waiting for {what}:\n{self.head.log_tail()}")
            time.sleep(every)
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")

    # ---- jobs and drivers ----------------------------------------------------------------

    def submit(self, entrypoint: list[str], *, working_dir: Path = REPO, excludes=()) -> Job:
        """``ray job submit --no-wait --working-dir`` (the user's command); returns the job."""
        job = Job(submission_id=f"uer-{secrets.token_hex(4)}")
        runtime_env = {"excludes": list(excludes)} if excludes else {}
        cmd = [
            str(BIN / "ray"), "job", "submit", "--address", self.dashboard,
            "--submission-id", job.submission_id, "--working-dir", str(working_dir),
            "--runtime-env-json", json.dumps(runtime_env), "--no-wait", "--", *entrypoint,
        ]  # fmt: skip
        out = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, timeout=180)
        if out.returncode != 0:
            raise RuntimeError(f"ray job submit failed:\n{out.stdout}\n{out.stderr}")
        return job

    def job_status(self, job: Job) -> str:
        reply = self._get(f"/api/jobs/{job.submission_id}")
        return reply.get("status", "UNKNOWN") if isinstance(reply, dict) else "UNKNOWN"

    def job_logs(self, job: Job) -> str:
        reply = self._get(f"/api/jobs/{job.submission_id}/logs")
        return reply.get("logs", "") if isinstance(reply, dict) else ""

    def wait_job(self, job: Job, timeout: float) -> Job:
        """Wait for the job to end; fills ``job.status`` and ``job.logs``."""
        ended = ("SUCCEEDED", "FAILED", "STOPPED")
        self.wait_until(lambda: self.job_status(job) in ended, timeout, f"job {job.submission_id}", 1)
        job.status, job.logs = self.job_status(job), self.job_logs(job)
        return job

    def run_driver(self, argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
        """Run a command in a subprocess attached to this cluster (``RAY_ADDRESS``)."""
        return subprocess.run(
            argv, cwd=REPO, env=self.env(RAY_ADDRESS=self.address),
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    def run_embedded(self, argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
        """Run a command that starts its own embedded Ray, inside this cluster's temp dir,
        token and marker (so that ``stop`` sweeps whatever it leaves behind)."""
        return subprocess.run(
            argv, cwd=REPO, env=self.env(), capture_output=True, text=True, timeout=timeout
        )

    # ---- stopping ------------------------------------------------------------------------

    def kill(self, node: Node) -> None:
        """SIGKILL a node's whole process group at once (a machine that vanished)."""
        signal_group(node.proc.pid, signal.SIGKILL)
        node.proc.wait(timeout=30)
        # the leader is reaped at once; its group's other members take a moment to finish dying
        deadline = time.monotonic() + 10
        while group_members(node.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self, timeout: float = 30) -> list[int]:
        """Stop every node (workers first, then the head), then sweep for leftovers; returns
        the PIDs that had to be SIGKILLed after the graceful stop."""
        forced: list[int] = []
        for node in sorted(self.nodes, key=lambda n: n is self.head):
            if node.alive():
                node.proc.send_signal(signal.SIGTERM)
                try:
                    node.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait(timeout=10)
            # the node's own processes get a moment to finish their exit before SIGKILL
            grace = time.monotonic() + 5
            while group_members(node.proc.pid) and time.monotonic() < grace:
                time.sleep(0.2)
            forced += signal_group(node.proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (left := self.leftovers()) and time.monotonic() < deadline:
            for pid in left:
                kill_pid(pid)
                forced.append(pid)
            time.sleep(0.3)
        return sorted(set(forced))

    def leftovers(self) -> list[int]:
        """PIDs of live processes that carry this cluster's marker (nothing else is touched)."""
        return marked_processes(str(self.root))

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        left = self.leftovers()
        if not left:
            shutil.rmtree(self.root, ignore_errors=True)
        if left and exc[0] is None:
            raise RuntimeError(f"processes of the test cluster survived: {left}")
