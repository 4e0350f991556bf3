"""Cluster configs checked offline (DESIGN §10): Ray autoscaler YAMLs (``autoscaler``), KubeRay
manifests against the vendored CRDs (``crd``, ``kuberay``), whether a job's workers fit its
cluster (``fit``) and the container recipe (``dockerfile``). ``validate`` runs them all::

    python -m uer_ray.clusters.validate cluster/

Nothing here talks to a cloud or a Kubernetes API; Ray's own validators run in-process.

In Python: ``uer_ray.clusters.validate.validate(paths)`` raises ``ClusterConfigError`` (every
problem named by file and field); ``check_paths(paths)`` returns one ``Report`` per file.
"""

from uer_ray.clusters.report import ClusterConfigError, Problem, Report

__all__ = ["ClusterConfigError", "Problem", "Report"]
