"""Check cluster configs offline, as strictly as the real tools would (DESIGN §10):

    python -m uer_ray.clusters.validate [PATH ...]      # default: ./cluster

Each file is recognised by its content: a Dockerfile (by name), a KubeRay manifest
(``apiVersion: ray.io/v1``; several documents per file are fine) or a Ray autoscaler config
(a mapping with ``provider``). A RayJob's entrypoint is parsed by the real command and its
training workers are placed on its cluster: its own ``rayClusterSpec``, or the RayCluster its
``clusterSelector`` names among the files checked together. Exit status 1 when a file fails.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from uer_ray.clusters import autoscaler, dockerfile, fit, kuberay
from uer_ray.clusters.report import ClusterConfigError, Problem, Report

DEFAULT_DIR = Path("cluster")  # run from the repository root
YAML_SUFFIXES = (".yaml", ".yml")
CLUSTER_LABEL = "ray.io/cluster"


def discover(paths: Iterable[Path]) -> list[Path]:
    """Files to check: the paths themselves, and under folders every YAML and Dockerfile."""
    out = []
    for path in paths:
        if path.is_dir():
            out += sorted(
                p for p in path.rglob("*")
                if p.is_file() and (p.suffix in YAML_SUFFIXES or _is_dockerfile(p))
            )  # fmt: skip
        else:
            out.append(path)
    return out


def _is_dockerfile(path: Path) -> bool:
    return path.name == "Dockerfile" or path.name.endswith(".Dockerfile")


def check_paths(paths: Iterable[Path]) -> list[Report]:
    """One report per file (KubeRay manifests: per document, ``file#N`` after the first)."""
    files = discover(paths)
    reports: list[Report] = []
    clusters: dict[str, dict] = {}  # RayCluster name -> Ray's autoscaling config
    jobs: list[tuple[Report, dict]] = []
    for path in files:
        if _is_dockerfile(path):
            reports.append(_dockerfile(path))
            continue
        for report, doc, scaling in _yaml_file(path):
            reports.append(report)
            if doc is None or not report.ok:
                continue
            if doc.get("kind") == "RayCluster" and scaling is not None:
                clusters[doc["metadata"]["name"]] = scaling
            if doc.get("kind") == "RayJob":
                jobs.append((report, {"doc": doc, "scaling": scaling}))
    for report, job in jobs:
        _job_fit(report, job["doc"], job["scaling"], clusters)
    return reports


def _dockerfile(path: Path) -> Report:
    report = Report(str(path), "Dockerfile", checks=["project rules"])
    problems, notes = dockerfile.lint(path)
    report.add(problems)
    report.notes += notes
    if not any("hadolint is not installed" in n for n in notes):
        report.checks.append("hadolint")
    return report


def _yaml_file(path: Path):
    """(report, document, autoscaling config) for each document of a YAML file."""
    import yaml

    try:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except yaml.YAMLError as e:
        report = Report(str(path), "YAML")
        report.add([Problem("", f"not YAML: {e}", "yaml")])
        return [(report, None, None)]
    out = []
    for n, doc in enumerate(docs):
        name = str(path) if n == 0 else f"{path}#{n + 1}"
        if isinstance(doc, dict) and "apiVersion" in doc and not _is_ray_object(doc):
            report = Report(name, f"Kubernetes {doc.get('kind')}")
            report.notes.append(
                "not a ray.io object: not checked offline (kubectl apply --dry-run=server checks it)"
            )
            out.append((report, doc, None))
        elif isinstance(doc, dict) and "apiVersion" in doc:
            report = Report(name, f"KubeRay {doc.get('kind')}")
            report.checks = ["CRD schema", "strict fields", "operator rules"]
            problems, scaling = kuberay.check(doc)
            if scaling is not None:
                report.checks.append("Ray translation")
            report.add(problems)
            out.append((report, doc, scaling))
        else:
            report = Report(name, "Ray autoscaler config")
            report.checks = ["prepare_config", "ray-schema", "validate_config", "extra rules"]
            problems, notes = autoscaler.check(doc)
            report.add(problems)
            report.notes += notes
            out.append((report, doc, None))
    return out


def _is_ray_object(doc: dict) -> bool:
    return str(doc.get("apiVersion", "")).startswith("ray.io/")


def _job_fit(report: Report, doc: dict, scaling: dict | None, clusters: dict) -> None:
    """Place the RayJob's training workers on its cluster."""
    if scaling is None:
        name = (doc["spec"].get("clusterSelector") or {}).get(CLUSTER_LABEL)
        scaling = clusters.get(name)
        if scaling is None:
            report.notes.append(
                f"clusterSelector names RayCluster {name!r}, not among the files checked: no fit check"
            )
            return
    problems, notes = fit.check_fit(doc["spec"]["entrypoint"], "spec.entrypoint", scaling)
    report.add(problems)
    report.notes += notes
    report.checks.append("entrypoint + fit")


def validate(paths: Iterable[str | Path]) -> list[Report]:
    """Check ``paths``; raises ``ClusterConfigError`` naming every problem when one fails."""
    reports = check_paths(Path(p) for p in paths)
    if not all(r.ok for r in reports):
        raise ClusterConfigError(reports)
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m uer_ray.clusters.validate",
        description="Check Ray autoscaler configs, KubeRay manifests and Dockerfiles offline.",
    )
    parser.add_argument("paths", nargs="*", type=Path, help=f"files or folders (default {DEFAULT_DIR})")
    args = parser.parse_args(argv)
    reports = check_paths(args.paths or [DEFAULT_DIR])
    if not reports:
        print("no cluster config found", file=sys.stderr)
        return 2
    for report in reports:
        print(report.text())
    bad = sum(not r.ok for r in reports)
    print(f"checked {len(reports)} config(s): {bad} with problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
