"""Offline checks of KubeRay ``RayCluster`` and ``RayJob`` manifests (``ray.io/v1``).

1. the vendored CRD schema, as the API server applies it on create (``crd.schema(strict=False)``);
2. a strict pass that rejects fields the CRD does not list (the API server would drop them
   silently, e.g. a typo'd ``minReplica``);
3. the operator's own rules, which are not in the schema (KubeRay ``validation.go``, release in
   ``crd.KUBERAY_RELEASE``): names are DNS-1035 labels of at most 53 characters (RayJob: 47, as
   the operator appends a suffix to name the cluster it creates), every group has a container,
   ``0 <= minReplicas <= maxReplicas``, resources not given both in ``rayStartParams`` and
   ``resources``, ``runtimeEnvYAML`` parses, a RayJob names a cluster spec or a selector;
4. Ray's own translation of the cluster into an autoscaling config
   (``_derive_autoscaling_config_from_ray_cr``, what the in-tree autoscaler runs on), which also
   parses every resource quantity; the result is kept for the fit check (``uer_ray.clusters.fit``).
"""

from __future__ import annotations

import re
from typing import Any

from uer_ray.clusters import crd
from uer_ray.clusters.report import Problem, schema_problems

MAX_NAME = {"RayCluster": 53, "RayJob": 47}
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def check(doc: dict[str, Any]) -> tuple[list[Problem], dict | None]:
    """Problems of one manifest, and Ray's autoscaling config of its cluster (None when the
    manifest has no cluster spec of its own or could not be translated)."""
    import jsonschema

    kind = doc.get("kind") if isinstance(doc, dict) else None
    if kind not in crd.CRD_FILES or doc.get("apiVersion") != crd.API_VERSION:
        got = f"{doc.get('apiVersion')}/{kind}" if isinstance(doc, dict) else type(doc).__name__
        want = ", ".join(f"{crd.API_VERSION}/{k}" for k in crd.CRD_FILES)
        return [Problem("kind", f"{got} is not one of {want}", "kind")], None
    lenient = jsonschema.Draft7Validator(crd.schema(kind, strict=False))
    problems = schema_problems(sorted(lenient.iter_errors(doc), key=str), "crd-schema")
    strict = jsonschema.Draft7Validator(crd.schema(kind, strict=True))
    unknown = [e for e in strict.iter_errors(doc) if e.validator == "additionalProperties"]
    problems += schema_problems(sorted(unknown, key=str), "crd-strict")
    if problems:
        return problems, None
    problems = name_rules(doc) + (job_rules(doc) if kind == "RayJob" else [])
    spec, prefix = _cluster_spec(doc)
    if spec is None:
        return problems, None
    problems += cluster_rules(spec, prefix)
    if problems:
        return problems, None
    return translate(doc, spec, prefix)


def _cluster_spec(doc: dict) -> tuple[dict | None, str]:
    if doc["kind"] == "RayCluster":
        return doc["spec"], "spec"
    return doc["spec"].get("rayClusterSpec"), "spec.rayClusterSpec"


def name_rules(doc: dict) -> list[Problem]:
    """A DNS-1035 label within the operator's length limit."""
    kind, name = doc["kind"], doc["metadata"]["name"]
    out = []
    if len(name) > MAX_NAME[kind]:
        out.append(
            Problem(
                "metadata.name",
                f"{len(name)} characters; the operator allows at most {MAX_NAME[kind]} for a {kind}",
                "operator",
            )
        )
    if not DNS_1035.match(name):
        out.append(
            Problem(
                "metadata.name",
                f"{name!r} is not a DNS-1035 label (lower-case letters, digits and '-', "
                "starting with a letter, not ending with '-')",
                "operator",
            )
        )
    return out


def cluster_rules(spec: dict, prefix: str) -> list[Problem]:
    """The operator's rules for the head group and every worker group."""
    out = []
    head = spec["headGroupSpec"]
    out += _group_rules(head, f"{prefix}.headGroupSpec")
    autoscaling = bool(spec.get("enableInTreeAutoscaling"))
    for i, group in enumerate(spec.get("workerGroupSpecs") or []):
        where = f"{prefix}.workerGroupSpecs[{i}]"
        out += _group_rules(group, where)
        low, high = group.get("minReplicas"), group.get("maxReplicas")
        if not autoscaling and (low is None or high is None):
            out.append(
                Problem(where, "set both minReplicas and maxReplicas when autoscaling is off", "operator")
            )
        for key, value in (("minReplicas", low), ("maxReplicas", high)):
            if value is not None and value < 0:
                out.append(Problem(f"{where}.{key}", f"{value} is negative", "operator"))
        if low is not None and high is not None and low > high:
            out.append(Problem(f"{where}.minReplicas", f"{low} > maxReplicas {high}", "operator"))
        replicas = group.get("replicas")
        if replicas is not None and high is not None and not autoscaling and replicas > high:
            out.append(Problem(f"{where}.replicas", f"{replicas} > maxReplicas {high}", "operator"))
    idle = (spec.get("autoscalerOptions") or {}).get("idleTimeoutSeconds")
    if idle is not None and idle < 0:
        out.append(
            Problem(f"{prefix}.autoscalerOptions.idleTimeoutSeconds", f"{idle} is negative", "operator")
        )
    return out


def _group_rules(group: dict, where: str) -> list[Problem]:
    out = []
    if not group["template"].get("spec", {}).get("containers"):
        out.append(Problem(f"{where}.template.spec.containers", "no container", "operator"))
    params = group.get("rayStartParams") or {}
    in_params = [k for k in ("num-cpus", "num-gpus", "memory", "resources") if params.get(k)]
    if in_params and group.get("resources"):
        out.append(
            Problem(
                f"{where}.resources",
                f"resources are also set in rayStartParams ({', '.join(in_params)}); use one",
                "operator",
            )
        )
    out += _quantities(group, where)
    if "labels" in params:
        out.append(
            Problem(f"{where}.rayStartParams.labels", "not supported: use the group's labels", "operator")
        )
    return out


def _quantities(group: dict, where: str) -> list[Problem]:
    """Resource amounts Ray reads from the group: integers in ``rayStartParams``, Kubernetes
    quantities in ``resources`` (the CRD types both as free strings)."""
    from ray.autoscaler._private.kuberay.utils import parse_quantity

    out = []
    params = group.get("rayStartParams") or {}
    for key in ("num-cpus", "num-gpus", "memory"):
        if key in params and not re.fullmatch(r"\d+", params[key]):
            out.append(
                Problem(f"{where}.rayStartParams.{key}", f"{params[key]!r} is not an integer", "quantity")
            )
    for key, value in (group.get("resources") or {}).items():
        try:
            parse_quantity(value)
        except (ValueError, ArithmeticError):
            out.append(
                Problem(f"{where}.resources.{key}", f"{value!r} is not a resource quantity", "quantity")
            )
    return out


def job_rules(doc: dict) -> list[Problem]:
    """The operator's rules for a RayJob's own fields."""
    import yaml

    spec, out = doc["spec"], []
    if not spec.get("rayClusterSpec") and not spec.get("clusterSelector"):
        out.append(Problem("spec", "set rayClusterSpec or clusterSelector", "operator"))
    if spec.get("suspend") and not spec.get("shutdownAfterJobFinishes"):
        out.append(
            Problem("spec.suspend", "a suspended RayJob needs shutdownAfterJobFinishes", "operator")
        )
    for key in ("activeDeadlineSeconds", "preRunningDeadlineSeconds"):
        if spec.get(key) is not None and spec[key] <= 0:
            out.append(Problem(f"spec.{key}", f"{spec[key]} is not positive", "operator"))
    for key in ("ttlSecondsAfterFinished", "backoffLimit"):
        if spec.get(key) is not None and spec[key] < 0:
            out.append(Problem(f"spec.{key}", f"{spec[key]} is negative", "operator"))
    text = spec.get("runtimeEnvYAML")
    if text:
        try:
            env = yaml.safe_load(text)
        except yaml.YAMLError as e:
            out.append(Problem("spec.runtimeEnvYAML", f"not YAML: {e}", "operator"))
        else:
            if not isinstance(env, dict):
                out.append(Problem("spec.runtimeEnvYAML", "not a YAML mapping", "operator"))
    return out


def translate(doc: dict, spec: dict, prefix: str) -> tuple[list[Problem], dict | None]:
    """Ray's translation of the cluster spec into the autoscaler's config."""
    from ray.autoscaler._private.kuberay.autoscaling_config import (
        _derive_autoscaling_config_from_ray_cr,
    )

    cr = {
        "apiVersion": crd.API_VERSION,
        "kind": "RayCluster",
        "metadata": {**doc["metadata"], "namespace": doc["metadata"].get("namespace", "default")},
        "spec": spec,
    }
    try:
        return [], _derive_autoscaling_config_from_ray_cr(cr)
    except (ValueError, KeyError, TypeError, ArithmeticError) as e:
        message = f"Ray's autoscaler cannot read this cluster: {type(e).__name__}: {e}"
        return [Problem(prefix, message, "ray-translate")], None
