"""The KubeRay v1 CRD schemas vendored in ``crds/`` (see its README for version and commit),
turned into JSON Schema (draft 7) for offline validation, in a lenient and a strict form.

The lenient form is what the Kubernetes API server enforces on create: types, enums, patterns
(resource quantities such as ``"2x"`` fail here), required fields. The API server then *prunes*
fields the schema does not list, silently: a typo'd ``minReplica`` would vanish and the default
apply. The strict form closes every object that lists its ``properties`` (unless the CRD marks
it ``x-kubernetes-preserve-unknown-fields``), so such a typo is an error here.

CEL rules (``x-kubernetes-validations``) are not evaluated; the few in these CRDs guard fields
the shipped manifests do not set (``managedBy``, RayJob ``deletionStrategy``).
"""

from __future__ import annotations

import copy
from functools import cache
from importlib.resources import files

CRD_FILES = {"RayCluster": "ray.io_rayclusters.yaml", "RayJob": "ray.io_rayjobs.yaml"}
API_VERSION = "ray.io/v1"
# The KubeRay release the files come from (crds/README.md records the commit and how to update).
KUBERAY_RELEASE = "v1.7.0"

# Object metadata as the API server reads it for a create (the CRDs leave it open).
OBJECT_META = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "generateName": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
    },
}


@cache
def _crd(kind: str) -> dict:
    import yaml

    text = (files("uer_ray.clusters") / "crds" / CRD_FILES[kind]).read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the files are ~1 MB each
    return yaml.load(text, Loader=loader)


@cache
def schema(kind: str, strict: bool) -> dict:
    """The ``ray.io/v1`` schema of ``kind`` as JSON Schema draft 7."""
    versions = _crd(kind)["spec"]["versions"]
    v1 = next(v for v in versions if v["name"] == "v1")
    root = _to_json_schema(copy.deepcopy(v1["schema"]["openAPIV3Schema"]), strict)
    root["properties"]["metadata"] = _to_json_schema(copy.deepcopy(OBJECT_META), strict)
    # status is written by the operator, never by the user
    root["properties"].pop("status", None)
    root["required"] = sorted({*root.get("required", []), "apiVersion", "kind", "metadata", "spec"})
    root["properties"]["apiVersion"] = {"const": API_VERSION}
    root["properties"]["kind"] = {"const": kind}
    return root


def _to_json_schema(node, strict: bool):
    """OpenAPI v3 (Kubernetes structural schema) -> JSON Schema draft 7, in place."""
    if isinstance(node, list):
        return [_to_json_schema(n, strict) for n in node]
    if not isinstance(node, dict):
        return node
    for key in ("properties", "patternProperties"):
        if isinstance(node.get(key), dict):
            node[key] = {k: _to_json_schema(v, strict) for k, v in node[key].items()}
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), dict):
            node[key] = _to_json_schema(node[key], strict)
    for key in ("anyOf", "allOf", "oneOf"):
        if isinstance(node.get(key), list):
            node[key] = _to_json_schema(node[key], strict)
    if node.pop("nullable", False) and isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
    preserve = node.get("x-kubernetes-preserve-unknown-fields", False)
    if strict and "properties" in node and "additionalProperties" not in node and not preserve:
        node["additionalProperties"] = False
    return node
