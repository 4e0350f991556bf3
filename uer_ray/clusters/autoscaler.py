"""Offline checks of a Ray autoscaler cluster config (the YAML of ``ray up``).

First Ray's own path, as ``ray up`` takes it: ``prepare_config`` (merge the provider's defaults,
fill per-type worker bounds) then the JSON schema Ray ships (``ray-schema.json``, every error
reported by field rather than only the first) and ``validate_config`` (head type listed, the sum
of ``min_workers`` within ``max_workers``). Then what Ray does not check but a launch depends on:

* each node type has ``0 <= min_workers <= max_workers`` (Ray accepts ``min > max`` silently);
* ``setup_commands`` is set in the file: Ray merges defaults only at the top level, and its
  default setup installs a development wheel of Ray unrelated to the image;
* resources are given where the provider cannot detect them (every provider but AWS): CPU for
  every node type, and on GCP GPUs matching the ``guestAccelerators`` attached;
* the container image, when one is given, is pinned to a tag other than ``latest``;
* the head node type offers no CPUs, so that no training or data task lands on it.

A config that is complete by itself (Ray's fake multi-node provider ships no defaults file)
is validated as it stands.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from typing import Any

from uer_ray.clusters.report import Problem, schema_problems

# Providers whose node provider fills CPU/GPU/memory from the instance type by itself.
DETECTS_RESOURCES = {"aws", "kuberay"}
# Providers that run no node updaters, hence no setup commands.
NO_UPDATERS = {"fake_multinode", "kuberay", "local"}


def check(config: dict[str, Any]) -> tuple[list[Problem], list[str]]:
    """All problems of an autoscaler config (as loaded from YAML), and notes."""
    if not isinstance(config, dict):
        return [Problem("", "an autoscaler config is a YAML mapping", "autoscaler")], []
    problems, notes = ray_checks(config)
    problems += bounds(config) + setup_commands(config) + resources(config)
    problems += image_pinned(config) + head_runs_nothing(config)
    return problems, notes


def ray_checks(config: dict) -> tuple[list[Problem], list[str]]:
    """Ray's ``prepare_config`` + schema + ``validate_config``, problems named by field."""
    import jsonschema
    import ray.autoscaler
    from ray.autoscaler._private.util import prepare_config, validate_config

    notes = []
    # prepare_config logs each default it fills at INFO; the report says what matters
    logging.getLogger("ray.autoscaler._private.util").setLevel(logging.WARNING)
    try:
        prepared = prepare_config(copy.deepcopy(config))
    except FileNotFoundError:
        # a provider without a defaults file (fake_multinode): the config must be complete
        prepared = copy.deepcopy(config)
        notes.append("no provider defaults in Ray's wheel: validated as a complete config")
    except (KeyError, TypeError, AttributeError, AssertionError, ValueError) as e:
        return [Problem("", f"Ray's prepare_config failed: {_describe(e)}", "ray-prepare")], notes
    path = os.path.join(os.path.dirname(ray.autoscaler.__file__), "ray-schema.json")
    with open(path) as f:
        schema = json.load(f)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(prepared), key=str)
    problems = schema_problems(errors, "ray-schema")
    if problems:
        return problems, notes
    try:
        validate_config(prepared)
    except (ValueError, RuntimeError, jsonschema.ValidationError) as e:
        problems.append(Problem("", f"Ray's validate_config: {_describe(e)}", "ray-validate"))
    return problems, notes


def _describe(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"missing field {error.args[0]!r}"
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _node_types(config: dict) -> dict[str, dict]:
    types = config.get("available_node_types")
    if not isinstance(types, dict):
        return {}
    return {k: v for k, v in types.items() if isinstance(v, dict)}


def bounds(config: dict) -> list[Problem]:
    """``0 <= min_workers <= max_workers`` per node type (max defaults to the global one)."""
    out = []
    global_max = config.get("max_workers")
    for name, node in _node_types(config).items():
        low = node.get("min_workers", 0)
        high = node.get("max_workers", 0 if name == config.get("head_node_type") else global_max)
        where = f"available_node_types.{name}"
        if isinstance(low, int) and low < 0:
            out.append(Problem(f"{where}.min_workers", f"{low} is negative", "bounds"))
        if isinstance(low, int) and isinstance(high, int) and low > high:
            out.append(
                Problem(f"{where}.min_workers", f"{low} > max_workers {high}", "bounds")
            )
    return out


def setup_commands(config: dict) -> list[Problem]:
    """``setup_commands`` must be in the file (and not empty where node updaters run)."""
    provider = (config.get("provider") or {}).get("type")
    if provider in NO_UPDATERS or (config.get("provider") or {}).get("disable_node_updaters"):
        return []
    commands = config.get("setup_commands")
    if not commands:
        return [
            Problem(
                "setup_commands",
                "missing or empty: Ray's defaults would install an unrelated development "
                "wheel of Ray on every node; list the commands the image needs (at least a "
                "check that uer_ray and the expected Ray import)",
                "setup",
            )
        ]
    return []


def resources(config: dict) -> list[Problem]:
    """Explicit resources where the provider cannot detect them from the instance type."""
    provider = (config.get("provider") or {}).get("type")
    if provider in DETECTS_RESOURCES:
        return []
    out = []
    for name, node in _node_types(config).items():
        given = node.get("resources") if isinstance(node.get("resources"), dict) else {}
        where = f"available_node_types.{name}.resources"
        if "CPU" not in given:
            out.append(
                Problem(where, f"no CPU count: the {provider} provider cannot detect it", "resources")
            )
        gpus = _gcp_gpus(node.get("node_config") or {}) if provider == "gcp" else 0
        if gpus and given.get("GPU") != gpus:
            out.append(
                Problem(
                    f"{where}.GPU",
                    f"{given.get('GPU')!r} but node_config.guestAccelerators attaches {gpus}",
                    "resources",
                )
            )
    return out


def _gcp_gpus(node_config: dict) -> int:
    total = 0
    for accel in node_config.get("guestAccelerators") or []:
        if isinstance(accel, dict) and isinstance(accel.get("acceleratorCount"), int):
            total += accel["acceleratorCount"]
    return total


def image_pinned(config: dict) -> list[Problem]:
    """Container images carry an explicit tag other than ``latest``."""
    out = []
    docker = config.get("docker") or {}
    images = {f"docker.{k}": docker.get(k) for k in ("image", "head_image", "worker_image")}
    for name, node in _node_types(config).items():
        if isinstance(node.get("docker"), dict):
            images[f"available_node_types.{name}.docker.worker_image"] = node["docker"].get(
                "worker_image"
            )
    for where, image in images.items():
        if isinstance(image, str) and (reason := unpinned(image)):
            out.append(Problem(where, f"{image!r} {reason}", "image"))
    return out


def unpinned(image: str) -> str | None:
    """Why an image reference is not pinned, or None (a digest pins it too)."""
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag (Docker would pull 'latest')"
    tag = last.rsplit(":", 1)[1]
    if tag == "latest" or tag.startswith(("latest-", "nightly")):
        return f"is tagged {tag!r}, which moves: pin a release tag"
    return None


def head_runs_nothing(config: dict) -> list[Problem]:
    """The head node type declares ``CPU: 0`` (training and data tasks go to workers)."""
    head = config.get("head_node_type")
    node = _node_types(config).get(head)
    if node is None or not isinstance(node.get("resources"), dict):
        return []
    cpus = node["resources"].get("CPU")
    if cpus != 0:
        return [
            Problem(
                f"available_node_types.{head}.resources.CPU",
                f"{cpus!r}: give the head CPU: 0 so that no training worker or data task is "
                "scheduled on it (a spot worker can be lost; the head cannot)",
                "head",
            )
        ]
    return []
