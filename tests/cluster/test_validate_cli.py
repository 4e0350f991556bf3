"""``python -m uer_ray.clusters.validate``: every file under cluster/ passes; a broken copy makes
it exit 1 and print the field; other Kubernetes objects are reported as not checked."""

from __future__ import annotations

import subprocess
import sys

from config_helpers import CLUSTER, REPO

from uer_ray.clusters.report import ClusterConfigError
from uer_ray.clusters.validate import main, validate


def test_module_entry_point_checks_cluster_folder():
    out = subprocess.run([sys.executable, "-m", "uer_ray.clusters.validate", str(CLUSTER)],
                         cwd=REPO, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "RuntimeWarning" not in out.stderr
    for name in ("aws.yaml", "gcp.yaml", "Dockerfile", "raycluster.yaml", "rayjob-pretrain.yaml"):
        assert any(name in line and ": OK (" in line for line in out.stdout.splitlines()), name
    assert "storage.yaml: Kubernetes PersistentVolumeClaim: not checked" in out.stdout


def test_broken_file_exits_1_and_names_the_field(tmp_path, capsys):
    text = (CLUSTER / "kuberay" / "raycluster.yaml").read_text().replace("maxReplicas: 8", "maxReplicas: -1")
    bad = tmp_path / "raycluster.yaml"
    bad.write_text(text)
    assert main([str(bad)]) == 1
    printed = capsys.readouterr().out
    assert "spec.workerGroupSpecs[0].maxReplicas: -1 is negative" in printed


def test_validate_raises_with_every_problem(tmp_path):
    bad = tmp_path / "aws.yaml"
    bad.write_text((CLUSTER / "aws.yaml").read_text().replace("max_workers: 16", "max_workers: -16"))
    try:
        validate([bad, CLUSTER / "gcp.yaml"])
    except ClusterConfigError as e:
        assert "available_node_types.gpu_spot.min_workers: 0 > max_workers -16" in str(e)
        assert "gcp.yaml" not in str(e)  # only the failing file is listed
    else:
        raise AssertionError("a broken config passed")
