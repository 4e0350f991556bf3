"""The Ray autoscaler configs in cluster/ pass Ray's own validator and the extra rules, have the
shape the docs promise (a head that runs nothing, spot GPU and CPU groups, pinned image, explicit
setup), and a broken copy of each fails with a message naming the field."""

from __future__ import annotations

import pytest
from config_helpers import CLUSTER, broken, describe, load, named, problems_of

from uer_ray.clusters import fit

CLOUD = ["aws.yaml", "gcp.yaml"]
ALL = [*CLOUD, "local/fake-autoscaler.yaml"]
WORKER = {"aws.yaml": "gpu_spot", "gcp.yaml": "gpu_spot", "local/fake-autoscaler.yaml": "cpu_worker"}


@pytest.mark.parametrize("rel", ALL)
def test_shipped_config_passes(rel):
    problems = problems_of(CLUSTER / rel)
    assert not problems, describe(problems)


@pytest.mark.parametrize("rel", CLOUD)
def test_cloud_config_shape(rel):
    cfg = load(rel)
    types = cfg["available_node_types"]
    assert types[cfg["head_node_type"]]["resources"] == {"CPU": 0}
    gpu, cpu = types["gpu_spot"], types["cpu_spot"]
    assert gpu["resources"]["GPU"] >= 1 and "GPU" not in cpu["resources"]
    for node in (gpu, cpu):
        assert node["min_workers"] == 0 < node["max_workers"]
        spot = node["node_config"].get("InstanceMarketOptions", {}).get("MarketType") == "spot"
        spot |= node["node_config"].get("scheduling", {}).get("provisioningModel") == "SPOT"
        assert spot, f"{rel}: {node} is not on spot capacity"
    assert cfg["docker"]["image"].endswith("-ray2.60.0-py311-gpu")
    assert any("uer_ray" in c for c in cfg["setup_commands"])


@pytest.mark.parametrize("rel", ALL)
def test_typo_in_node_type_names_the_key(tmp_path, rel):
    def typo(cfg):
        node = cfg["available_node_types"][WORKER[rel]]
        node["min_worker"] = node.pop("min_workers")

    problems = broken(tmp_path, rel, typo)
    assert named(problems, f"available_node_types.{WORKER[rel]}", "'min_worker'"), describe(problems)


@pytest.mark.parametrize("rel", ALL)
def test_min_workers_above_max(tmp_path, rel):
    def swap(cfg):
        cfg["available_node_types"][WORKER[rel]]["min_workers"] = 2
        cfg["available_node_types"][WORKER[rel]]["max_workers"] = 1

    problems = broken(tmp_path, rel, swap)
    where = f"available_node_types.{WORKER[rel]}.min_workers"
    assert named(problems, where, "2 > max_workers 1"), describe(problems)


@pytest.mark.parametrize("rel", ALL)
def test_resource_that_does_not_parse(tmp_path, rel):
    def bad(cfg):
        cfg["available_node_types"][WORKER[rel]]["resources"]["memory"] = "2x"

    problems = broken(tmp_path, rel, bad)
    where = f"available_node_types.{WORKER[rel]}.resources.memory"
    assert named(problems, where, "'2x'", "integer"), describe(problems)


@pytest.mark.parametrize("rel", CLOUD)
def test_top_level_typo_and_missing_setup_commands(tmp_path, rel):
    problems = broken(tmp_path, rel, lambda c: c.__setitem__("setup_command", c.pop("setup_commands")))
    assert any("'setup_command'" in p.message for p in problems), describe(problems)
    assert named(problems, "setup_commands", "unrelated development wheel"), describe(problems)


def test_gcp_needs_explicit_resources(tmp_path):
    def drop(cfg):
        cfg["available_node_types"]["cpu_spot"]["resources"] = {}
        cfg["available_node_types"]["gpu_spot"]["resources"]["GPU"] = 2

    problems = broken(tmp_path, "gcp.yaml", drop)
    assert named(problems, "available_node_types.cpu_spot.resources", "no CPU count"), describe(problems)
    assert named(problems, "available_node_types.gpu_spot.resources.GPU", "attaches 4"), describe(problems)


def test_aws_detects_resources_itself(tmp_path):
    problems = broken(tmp_path, "aws.yaml", lambda c: c["available_node_types"]["cpu_spot"].update(resources={}))
    assert not problems, describe(problems)


@pytest.mark.parametrize("image", ["rayproject/ray", "rayproject/ray:latest-gpu", "x/y:latest"])
def test_unpinned_image(tmp_path, image):
    problems = broken(tmp_path, "aws.yaml", lambda c: c["docker"].update(image=image))
    assert named(problems, "docker.image", repr(image)), describe(problems)


def test_head_that_would_run_tasks(tmp_path):
    problems = broken(tmp_path, "aws.yaml", lambda c: c["available_node_types"]["head"].update(resources={}))
    assert named(problems, "available_node_types.head.resources.CPU", "CPU: 0"), describe(problems)


@pytest.mark.parametrize(("rel", "workers", "fits"), [("aws.yaml", 64, True), ("aws.yaml", 65, False),
                                                      ("gcp.yaml", 64, True), ("gcp.yaml", 65, False)])  # fmt: skip
def test_pretraining_fits_the_gpu_group(rel, workers, fits):
    """docs/cluster.md's pre-training command on 1-64 GPUs: 16 nodes x 4 GPUs hold 64."""
    cfg = load(rel)
    entry = (f"python run.py pretrain --model bert-base --data /mnt/shared/s --out /mnt/shared/r "
             f"--workers {workers} --cpus-per-worker 1 --gpu")
    problems, notes = fit.check_fit(entry, "entrypoint", cfg)
    assert (not problems) == fits, describe(problems)
    if not fits:
        assert "at most 64 fit on gpu_spot" in problems[0].message


@pytest.mark.parametrize("rel", CLOUD)
def test_auto_cpus_on_a_cluster_that_starts_empty(rel):
    """pretrain sizes workers from the CPUs present at start: with a CPU-0 head and no minimum
    workers there are none, and it asks for 1 CPU per worker (the autoscaler adds the nodes);
    a single CPU at start leaves none for Ray Data, so the command must say --cpus-per-worker."""
    entry = "python run.py pretrain --model bert-base --data /d --out /o --workers 8 --gpu"
    problems, notes = fit.check_fit(entry, "entrypoint", load(rel))
    assert not problems, describe(problems)
    assert any("starts with 0 CPUs" in n and "1 CPU per worker" in n for n in notes), notes
    cfg = load(rel)
    cfg["available_node_types"]["head"]["resources"]["CPU"] = 1
    problems, _ = fit.check_fit(entry, "entrypoint", cfg)
    assert named(problems, "entrypoint", "starts with 1 CPU(s)", "--cpus-per-worker"), describe(problems)
    cfg = load(rel)
    cfg["available_node_types"]["cpu_spot"]["min_workers"] = 1  # a CPU node that is always up
    problems, _ = fit.check_fit(entry, "entrypoint", cfg)
    assert not problems, describe(problems)


@pytest.mark.parametrize(("workers", "fits"), [("1-64", True), ("8-65", False)])
def test_elastic_workers_must_fit_at_their_maximum(workers, fits):
    entry = f"python run.py pretrain --model bert-base --data /d --out /o --workers {workers} --gpu"
    problems, _ = fit.check_fit(entry, "entrypoint", load("aws.yaml"))
    assert (not problems) == fits, describe(problems)
