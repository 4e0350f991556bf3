"""Does a job fit a cluster? The job's command line is read with the real command's parser
(a misspelt option fails here, as it would on the cluster), turned into the Ray resources of one
training worker, and placed on the cluster's node types as Ray's autoscaler sees them
(``available_node_types``: from an autoscaler YAML, or Ray's translation of a RayCluster).

A pre-training worker asks for ``{"CPU": c, "GPU": 1 if --gpu}``: ``c`` is ``--cpus-per-worker``,
else 1 (what ``uer_ray.train.driver.cpus_per_worker`` gives whenever the cluster has a CPU to
spare for Ray Data, and on a cluster that starts with no CPU at all). An elastic
``--workers MIN-MAX`` must fit at MAX. Workers never go to the head. Ray Data's read tasks need a whole CPU each,
so at least one CPU must stay free somewhere once every worker is placed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import shlex
from dataclasses import dataclass

from uer_ray.cli.options import given, options_from
from uer_ray.clusters.report import Problem

ENTRY_POINTS = ("run.py", "uer-ray", "uer_ray")


@dataclass(frozen=True)
class Demand:
    """``count`` training workers of ``bundle`` resources each (None: not a training job)."""

    command: str
    count: int
    bundle: dict[str, float]


def parse_command(entrypoint: str, where: str) -> tuple[str | None, argparse.Namespace | None, list[Problem], list[str]]:
    """``python run.py pretrain ...`` -> (command, its parsed arguments, problems, notes)."""
    argv = shlex.split(entrypoint)
    start = next((i for i, a in enumerate(argv) if a.rsplit("/", 1)[-1] in ENTRY_POINTS), None)
    if start is None or start + 1 >= len(argv):
        return None, None, [], [f"{where}: not a uer_ray command; its arguments were not checked"]
    from uer_ray.cli import COMMANDS

    command, args = argv[start + 1], argv[start + 2 :]
    if command not in COMMANDS:
        return command, None, [Problem(where, f"unknown uer_ray command {command!r}", "command")], []
    try:
        module = importlib.import_module(COMMANDS[command][0])
    except ModuleNotFoundError:
        note = f"{where}: `{command}` is not in this version of uer_ray; its options were not checked"
        return command, None, [], [note]
    parser = argparse.ArgumentParser(prog=f"run.py {command}", exit_on_error=False)
    module.add_arguments(parser)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            parsed = parser.parse_args(args)
    except (argparse.ArgumentError, SystemExit) as e:
        message = str(e) if isinstance(e, argparse.ArgumentError) else err.getvalue().strip()
        return command, None, [Problem(where, message.splitlines()[-1], "command")], []
    return command, parsed, [], []


def demand(command: str, args: argparse.Namespace) -> Demand | None:
    """The training workers a parsed command asks for (pre-training only, for now)."""
    if command != "pretrain":
        return None
    from uer_ray.train.pretrain import PretrainOptions

    o = options_from(PretrainOptions, args)
    bundle = {"CPU": float(o.cpus_per_worker or 1)}
    if o.gpu:
        bundle["GPU"] = 1.0
    return Demand(command, o.max_workers, bundle)  # elastic MIN-MAX: the cluster must hold MAX


def place(need: Demand, node_types: dict[str, dict], head: str | None) -> list[Problem]:
    """Problems placing ``need`` on the node types at their ``max_workers`` (empty: it fits)."""
    capacity, spare_cpu, fitting = 0, 0.0, []
    for name, node in node_types.items():
        if name == head:
            continue
        res = {k: float(v) for k, v in (node.get("resources") or {}).items()}
        per_node = min(
            (int(res.get(k, 0.0) // v) for k, v in need.bundle.items() if v > 0), default=0
        )
        count = int(node.get("max_workers", 0))
        if per_node:
            fitting.append(name)
        capacity += per_node * count
        spare_cpu += (res.get("CPU", 0.0) - per_node * need.bundle.get("CPU", 0.0)) * count
    where = f"{need.command} worker {need.bundle}"
    if not fitting:
        return [Problem(where, "fits no worker node type of this cluster", "fit")]
    if capacity < need.count:
        return [
            Problem(
                where,
                f"{need.count} workers wanted, at most {capacity} fit on "
                f"{', '.join(fitting)} at their max_workers",
                "fit",
            )
        ]
    if spare_cpu < 1:
        return [Problem(where, "no whole CPU left for Ray Data's read tasks", "fit")]
    return []


def cpus_at_start(node_types: dict[str, dict], head: str | None) -> float:
    """Logical CPUs of the cluster before the autoscaler adds anything: the head's and those of
    each type's ``min_workers``."""
    total = 0.0
    for name, node in node_types.items():
        count = 1 if name == head else int(node.get("min_workers", 0))
        total += float((node.get("resources") or {}).get("CPU", 0)) * count
    return total


def auto_cpus(node_types: dict[str, dict], head: str | None, where: str) -> tuple[list[Problem], list[str]]:
    """Without ``--cpus-per-worker`` the driver sizes workers from the CPUs present when it
    starts (``uer_ray.train.driver.cpus_per_worker``). A cluster that starts with no CPU at all
    (a CPU-less head, no minimum workers) gets 1 CPU per worker, which the autoscaler then
    brings; one that starts with a single CPU has none to spare for Ray Data and is refused
    before the autoscaler could add a node. Returns (problems, notes)."""
    cpus = cpus_at_start(node_types, head)
    if cpus == 0:
        return [], [f"{where}: the cluster starts with 0 CPUs: pretrain asks for 1 CPU per worker "
                    "and the autoscaler adds the nodes"]
    if cpus - 1 > 0:
        return [], []
    return [
        Problem(
            where,
            f"no --cpus-per-worker, and the cluster starts with {cpus:g} CPU(s), none to spare "
            "for Ray Data: the run would stop before the autoscaler adds a node; pass "
            "--cpus-per-worker (e.g. 1)",
            "fit",
        )
    ], []


def check_fit(entrypoint: str, where: str, autoscaling: dict) -> tuple[list[Problem], list[str]]:
    """Parse ``entrypoint`` and place its workers on ``autoscaling['available_node_types']``."""
    command, args, problems, notes = parse_command(entrypoint, where)
    if args is None:
        return problems, notes
    need = demand(command, args)
    if need is None:
        return [], [f"{where}: `{command}` starts no training workers of its own; no fit check"]
    types, head = autoscaling["available_node_types"], autoscaling.get("head_node_type")
    problems = place(need, types, head)
    if "cpus_per_worker" not in given(args):
        more, said = auto_cpus(types, head, where)
        problems, notes = problems + more, notes + said
    if not problems:
        notes.append(f"{where}: {need.count} x {need.bundle} fit")
    return problems, notes
