"""Connecting to Ray: an embedded local cluster by default, or an existing one.

On a small machine Ray Train workers and Ray Data read tasks starve each other (two 1-CPU workers
on a 2-CPU box leave nothing for reads and the run hangs). The embedded cluster therefore
declares more logical CPUs than cores (at least 4), so workers at 1 CPU each always leave room
for Data tasks; on a real cluster Ray's own accounting is used unchanged.
"""

from __future__ import annotations

import logging
import os


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
    address = address or os.environ.get("RAY_ADDRESS")
    kwargs: dict = {"logging_level": logging.WARNING if quiet else logging.INFO}
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(
            num_cpus=num_cpus or local_num_cpus(),
            include_dashboard=False,
            log_to_driver=True,
            **kwargs,
        )
    _quiet_data_progress()
    return True


def _quiet_data_progress() -> None:
    """Ray Data prints one progress bar per operator; commands show their own instead."""
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    if hasattr(ctx, "print_on_execution_start"):
        ctx.print_on_execution_start = False
