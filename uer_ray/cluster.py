"""Connecting to Ray: an existing cluster when there is one, else an embedded local cluster.

Where the cluster comes from, in order: ``--address`` (or ``address=``), ``RAY_ADDRESS``, a
cluster started on this machine with ``ray start`` (the one ``ray.init()`` would join), and
otherwise a cluster embedded in this process that ends with it. Joining a running cluster
skips Ray's own start and stop (its worker processes still belong to each command's job):
``ray start --head --num-cpus 4 --include-dashboard=false`` once, and every command after it
attaches (docs/cluster.md §9, "Start-up"). ``--address local`` (or ``UER_RAY_ATTACH=0``) always embeds a fresh cluster.

On a small machine Ray Train workers and Ray Data read tasks starve each other (two 1-CPU workers
on a 2-CPU box leave nothing for reads and the run hangs). The embedded cluster therefore
declares more logical CPUs than cores (at least 4), so workers at 1 CPU each always leave room
for Data tasks; on a real cluster Ray's own accounting is used unchanged.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys

from uer_ray.errors import UerRayError


def local_num_cpus() -> int:
    """Logical CPUs for an embedded cluster: twice the cores, at least 4."""
    return max(4, 2 * (os.cpu_count() or 1))


def ensure_ray(address: str | None = None, num_cpus: int | None = None, quiet: bool = True) -> bool:
    """Make sure this process is connected to Ray.

    ``address`` (or ``RAY_ADDRESS``) attaches to a running cluster; otherwise a local cluster is
    started inside this process. Returns True if this call started or attached (so the caller may
    shut it down), False if Ray was already initialised.
    """
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = address or os.environ.get("RAY_ADDRESS") or running_local_cluster()
    if address == "local":
        address = None
    kwargs: dict = {"logging_level": logging.WARNING if quiet else logging.INFO}
    try:
        _init(ray, address, num_cpus, kwargs)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as e:  # ValueError: a malformed address
        raise RayStartError(address, e) from e
    except Exception as e:  # Ray raises a bare Exception when its node times out at start-up
        if "timed out" not in str(e):
            raise
        raise RayStartError(address, e) from e
    quiet_data_progress()
    return True


ATTACH_ENV = "UER_RAY_ATTACH"
ADDRESS_HELP = ("Ray cluster to attach to (default: RAY_ADDRESS, else a cluster `ray start` left "
                "running on this machine, else an embedded one; 'local': always embedded)")


def running_local_cluster() -> str | None:
    """The address of the cluster the last ``ray start`` on this machine started, while its
    GCS is still running (Ray's own lookup: the ``ray_current_cluster`` file under Ray's temp
    folder); None when there is none or ``UER_RAY_ATTACH=0``. Finding one switches this
    process to token authentication and says, on stderr, that the command attaches."""
    if os.environ.get(ATTACH_ENV, "1").strip().lower() in ("0", "no", "false", "never"):
        return None
    from ray._private.services import find_bootstrap_address, find_gcs_addresses

    try:
        address = find_bootstrap_address(None)
    except OSError:
        return None
    if not address or address not in find_gcs_addresses():
        return None  # a file left by a cluster that is gone: start an embedded one instead
    _token_auth_for_local_head()
    print(f"Attaching to the Ray cluster at {address} (started with `ray start` on this machine; "
          "--address local starts a private one instead).", file=sys.stderr, flush=True)
    return address


def _token_auth_for_local_head() -> None:
    """``ray start`` turns token authentication on and keeps the token in ~/.ray; a driver sends
    it only in token mode, which Ray reads into its cached config at import. Ray's own helper
    switches the mode and refreshes that cache when a token exists and ``RAY_AUTH_MODE`` is
    unset (an explicit mode is left alone)."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    try:
        from ray._private.authentication import authentication_token_setup as setup
    except ImportError:  # a Ray without token authentication
        return
    logger = logging.getLogger(setup.__name__)
    level = logger.level
    logger.setLevel(logging.ERROR)  # its notice that token auth is on is not news here
    try:
        setup.maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    finally:
        logger.setLevel(level)


class RayStartError(UerRayError):
    """Ray could not be started or reached: one line naming the address (or the embedded
    cluster) and Ray's own reason."""

    def __init__(self, address: str | None, cause: BaseException):
        where = f"the Ray cluster at {address}" if address else "an embedded Ray cluster"
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        super().__init__(f"could not start or reach {where}: {reason}")


SETUP_HOOK = "uer_ray.cluster.quiet_worker_logs"


def _setup_hook_env() -> dict:
    """The runtime env that installs ``quiet_worker_logs`` in this job's workers. Inside a
    submitted job Ray merges it with the job's own runtime env, and refuses a field given
    twice: a job that names a setup hook of its own keeps it."""
    import json

    from ray._private.runtime_env.constants import RAY_JOB_CONFIG_JSON_ENV_VAR

    job = os.environ.get(RAY_JOB_CONFIG_JSON_ENV_VAR)
    if job:
        try:
            if (json.loads(job).get("runtime_env") or {}).get("worker_process_setup_hook"):
                return {}
        except (ValueError, AttributeError):
            return {}
        return {"worker_process_setup_hook": SETUP_HOOK}
    return {"worker_process_setup_hook": SETUP_HOOK, "env_vars": _controller_env()}


TRAIN_POLL_ENV = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"


def _controller_env() -> dict[str, str]:
    """Ray Train's controller polls its workers every 2 s by default and notices that a run
    finished only at the next poll; every 0.5 s ends a short run about 1.5 s sooner (measured
    on a 100-step bert-tiny run) for a few RPCs a second. A value the user set is kept."""
    return {TRAIN_POLL_ENV: os.environ.get(TRAIN_POLL_ENV, "0.5")}


PREEMPTION_ENV = "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"


def _single_node_env() -> dict[str, str]:
    """The embedded cluster is this one machine: no node of it can be preempted while the run
    lives, so Ray Train's preemption watcher (one more actor process per run) is not started.
    A value the user set is kept."""
    return {PREEMPTION_ENV: os.environ.get(PREEMPTION_ENV, "0")}


# Ray starts worker processes for a new cluster's first driver ahead of its first task. Those
# of the embedded cluster are never used (its jobs carry a runtime env, and a worker serves
# only the runtime env it was started with) and cost a second of CPU while Ray starts.
_EMBEDDED_RAY_ENV = {"RAY_prestart_worker_first_driver": "0"}


@contextlib.contextmanager
def _environ(values: dict[str, str]):
    """``values`` set in this process's environment (inherited by the processes Ray starts)
    unless the user set them, and restored afterwards."""
    added = {k: v for k, v in values.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


def _init(ray, address: str | None, num_cpus: int | None, kwargs: dict) -> None:
    if address:
        # the workers of an attached cluster import uer_ray anyway (they run its training
        # loops): the hook quiets their per-report log lines as on the embedded cluster
        ray.init(address=address, runtime_env=_setup_hook_env() or None, **kwargs)
        return
    # The embedded cluster keeps Ray's default token authentication; its start-up notice
    # about it is not news to a user who ran one command on a laptop.
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
        logging.ERROR
    )
    with _environ(_EMBEDDED_RAY_ENV):
        ray.init(
            # "local": a new cluster even when `ray start` left one running (Ray would otherwise
            # join that one and refuse num_cpus)
            address="local",
            num_cpus=num_cpus or local_num_cpus(),
            include_dashboard=False,
            log_to_driver=True,
            runtime_env={"worker_process_setup_hook": SETUP_HOOK,
                         "env_vars": {**_controller_env(), **_single_node_env()}},
            **kwargs,
        )
    # registered (once) after Ray's own exit handler, so it runs first
    atexit.unregister(_end_autoscaler_monitor)
    atexit.register(_end_autoscaler_monitor)


def stop_ray() -> None:
    """``ray.shutdown()`` for a cluster that ``ensure_ray`` started (it reported True), without
    the second Ray's shutdown spends on the embedded cluster's autoscaler monitor."""
    import ray

    _end_autoscaler_monitor()
    ray.shutdown()


def _end_autoscaler_monitor() -> None:
    """At exit, before Ray stops the embedded cluster: end its autoscaler monitor at once.

    Ray stops the head's processes one by one, the GCS before the monitor, and gives each a
    SIGTERM and one second before SIGKILL; without its GCS the monitor never exits on SIGTERM,
    so every command waited that second, after its work was done, for the SIGKILL. The monitor
    of an embedded cluster has nothing to save (the cluster has one node, its own). Ray's
    process table is internal: if a Ray release changes it, Ray's own shutdown does the work."""
    try:
        import ray
        from ray._private import ray_constants

        node = ray._private.worker._global_node
        monitors = node.all_processes.get(ray_constants.PROCESS_TYPE_MONITOR, []) if node else []
    except (ImportError, AttributeError):
        return
    for info in monitors:
        if info.process.poll() is None:
            info.process.kill()
            info.process.wait(timeout=5)


# Loggers whose messages flood a run on the embedded cluster without telling the user anything:
# the placement-group cleaner polls the State API every second, and the State API needs the
# dashboard, which the embedded cluster does not start (the cluster dies with its driver, so
# there is no placement group left to clean).
NOISY_LOGGERS = {
    "ray.train.v2._internal.execution.controller.placement_group_cleaner": logging.ERROR,
}


# Train's worker context logs an INFO line per ``ray.train.report``; its logger is named after
# its file, relative to the ray package.
TRAIN_CONTEXT_FILE = ("train", "v2", "_internal", "execution", "context.py")


def quiet_worker_logs() -> None:
    """``worker_process_setup_hook`` of every job ``ensure_ray`` starts or attaches: runs in
    every Ray worker process of the job."""
    import ray

    for name, level in NOISY_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    context_file = os.path.join(os.path.dirname(ray.__file__), *TRAIN_CONTEXT_FILE)
    logging.getLogger(context_file).setLevel(logging.WARNING)


def quiet_data_progress() -> None:
    """Ray Data prints one progress bar per operator; commands show their own instead."""
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    if hasattr(ctx, "print_on_execution_start"):
        ctx.print_on_execution_start = False
