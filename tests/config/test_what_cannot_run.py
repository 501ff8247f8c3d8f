"""Config that cannot run is a config error: versions TF Serving cannot parse, two models on
one artifact prefix, pods no node can hold (issue 13, "Accepting what cannot run")."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.cli.main import main
from infra.config import capacity
from infra.config.loader import load
from infra.rules import machines
from infra.rules.machines import Allocatable, MachineShape, allocatable, machine_shape


def _snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _validate(root: Path, capsys: pytest.CaptureFixture[str], stack: str) -> str:
    before = _snapshot(root)
    assert main(["validate", "--stack", stack]) == 2
    assert _snapshot(root) == before
    err = capsys.readouterr().err
    assert "Traceback" not in err and "nothing was changed" in err
    return err


@pytest.mark.parametrize(("written", "shown"), [("9.0", "9.0"), ("9223372036854775808", "9223372036854775808")])
def test_a_version_is_a_whole_number_in_tf_serving_s_range(written: str, shown: str, repo_copy: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    _edit(repo_copy / "stacks" / "Pulumi.prod.yaml", "      blue: 7\n", f"      blue: {written}\n")
    err = _validate(repo_copy, capsys, "prod")
    assert "stacks/Pulumi.prod.yaml:47: config.tfplat:models.resnet50.blue: " in err
    assert f"(got {shown})" in err
    if written == "9.0":
        assert "expected a whole number or null (got 9.0)\n    fix: use the SavedModel version number: a whole " \
               "number from 1 to 9223372036854775807 (TF Serving's int64), e.g. 9, not 9.0; or null for none" in err
    else:
        assert "must be at most 9223372036854775807 (got 9223372036854775808)" in err


def test_stage_refuses_a_version_beyond_int64(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _snapshot(repo_copy)
    assert main(["stage", "resnet50", str(2**63), "--stack", "prod", "--skip-preflight"]) == 2
    err = capsys.readouterr().err
    assert "config.tfplat:models.resnet50.blue: versions are whole numbers from 1 to 9223372036854775807" in err
    assert _snapshot(repo_copy) == before


def test_two_models_on_one_prefix_are_refused(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clone = (repo_copy / "models" / "resnet50.yaml").read_text().replace("name: resnet50", "name: resnet-next")
    (repo_copy / "models" / "resnet-next.yaml").write_text(clone)
    err = _validate(repo_copy, capsys, "dev")
    assert "models/resnet50.yaml:8: artifact.prefix: models/resnet-next.yaml and models/resnet50.yaml use the " \
           "same prefix in the stack's model bucket ('vision/resnet50' and 'vision/resnet50'): each model would " \
           "serve the other's versions (got \"vision/resnet50\")" in err
    assert "fix: give each model its own prefix (e.g. vision/resnet-next for resnet-next), or, if they share on " \
           "purpose, add shared_with: [resnet-next] to resnet50's artifact and shared_with: [resnet50] to " \
           "resnet-next's" in err


def test_a_prefix_inside_another_is_refused_unless_both_share_on_purpose(repo_copy: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    _edit(repo_copy / "models" / "mobilenet.yaml", "prefix: vision/mobilenet", "prefix: vision")
    err = _validate(repo_copy, capsys, "dev")
    assert "use nested prefixes in the stack's model bucket ('vision' and 'vision/resnet50')" in err
    _edit(repo_copy / "models" / "mobilenet.yaml", "prefix: vision", "prefix: vision\n  shared_with: [resnet50]")
    assert main(["validate", "--stack", "dev"]) == 2  # one side alone is not enough
    _edit(repo_copy / "models" / "resnet50.yaml", "prefix: vision/resnet50",
          "prefix: vision/resnet50\n  shared_with: [mobilenet]")
    capsys.readouterr()
    assert main(["validate", "--stack", "dev"]) == 0
    # vision/resnet is not a folder of vision/resnet50: no clash.
    _edit(repo_copy / "models" / "mobilenet.yaml", "prefix: vision\n  shared_with: [resnet50]", "prefix: vision/resnet")
    assert main(["validate", "--stack", "dev"]) == 0


def test_a_memory_request_larger_than_the_l4_nodes_is_refused(repo_copy: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    _edit(repo_copy / "models" / "resnet50.yaml", "memory: 8Gi", "memory: 96Gi")
    err = _validate(repo_copy, capsys, "dev")
    assert "stacks/Pulumi.dev.yaml:47: config.tfplat:models.resnet50: models/resnet50.yaml asks 3 CPUs and " \
           "144.0 GiB memory per pod (serving.resources, memory with its 50% headroom), more than any node that " \
           "can host it offers: l4 (g2-standard-4): 144.0 GiB memory > 13.3 GiB allocatable" in err
    assert "fix: lower serving.resources in models/resnet50.yaml, or give the pool a larger machine type" in err


def test_16_cpus_on_a_smaller_node_are_refused(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(repo_copy / "models" / "mobilenet.yaml", 'cpu: "2"', 'cpu: "16"')
    err = _validate(repo_copy, capsys, "prod")
    assert "config.tfplat:models.mobilenet: models/mobilenet.yaml asks 16 CPUs" in err
    assert "cpu (n2-standard-8): 16 CPUs > 7.91 allocatable" in err


def test_minimum_replicas_beyond_the_pool_are_refused(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(repo_copy / "stacks" / "Pulumi.prod.yaml", "autoscaling: {min_replicas: 2, max_replicas: 10}",
          "autoscaling: {min_replicas: 900, max_replicas: 1000}\n      version_change: parallel")
    err = _validate(repo_copy, capsys, "prod")
    assert "stacks/Pulumi.prod.yaml:29: config.tfplat:node_pools.l4.max_nodes: the minimum replicas of its models " \
           "need 1800 GPUs (resnet50 1800; both colors count while both run: each its minimum, or with " \
           "version_change swap min + 1 together), but the pool can grow to 12 (l4 max_nodes 12) (got 12)" in err
    assert "fix: raise max_nodes so the pools offer 1800 GPUs (max_nodes: 1800 for l4)" in err
    assert "or stage with version_change: swap (docs/scaling.md)" in err


def test_swap_needs_the_minimum_plus_one(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """auto picks swap where the pool cannot hold both colors' minimums: they share it."""
    _edit(repo_copy / "stacks" / "Pulumi.prod.yaml", "autoscaling: {min_replicas: 2, max_replicas: 10}",
          "autoscaling: {min_replicas: 7, max_replicas: 10}")
    loaded = load(repo_copy, "prod")  # 2 x 7 GPUs > 12, but 7 + 1 fit
    assert not [f for f in capacity.check_stack_capacity(loaded.stack, loaded.models) if f.error]
    _edit(repo_copy / "stacks" / "Pulumi.prod.yaml", "autoscaling: {min_replicas: 7, max_replicas: 10}",
          "autoscaling: {min_replicas: 12, max_replicas: 12}")
    err = _validate(repo_copy, capsys, "prod")
    assert "need 13 GPUs (resnet50 13;" in err


def test_a_tight_fit_is_a_warning_not_an_error(repo_copy: Path) -> None:
    _edit(repo_copy / "models" / "mobilenet.yaml", 'cpu: "2"', 'cpu: "7.5"')
    loaded = load(repo_copy, "prod")  # no error
    (finding,) = capacity.check_stack_capacity(loaded.stack, loaded.models)
    assert not finding.error and finding.model == "mobilenet"
    assert "only just fits the nodes that can host it: cpu (n2-standard-8): 7.5 of 7.91 allocatable CPUs" \
        in finding.message


@pytest.mark.parametrize(("machine", "cloud", "vcpus", "gib"), [
    ("g2-standard-4", "gcp", 4, 16), ("n2-standard-8", "gcp", 8, 32), ("n1-highmem-8", "gcp", 8, 52),
    ("a2-highgpu-1g", "gcp", 12, 85), ("ct5lp-hightpu-4t", "gcp", 112, 192),
    ("g6.xlarge", "aws", 4, 16), ("m6i.2xlarge", "aws", 8, 32), ("p5.48xlarge", "aws", 192, 2048),
])
def test_machine_shapes(machine: str, cloud: str, vcpus: int, gib: int) -> None:
    assert machine_shape(machine, cloud) == MachineShape(vcpus, gib * machines.GIB)


def test_allocatable_follows_the_published_formulas() -> None:
    # GKE: 16 GiB -> 25% of 4 + 20% of 4 + 10% of 8 = 2.6 GiB, plus 100 MiB eviction;
    # 4 vCPUs -> 60 + 10 + 10 = 80 millicores.
    gke = allocatable(MachineShape(4, 16 * machines.GIB), "gcp")
    assert gke == Allocatable(cpu_millis=3920, memory_bytes=int(13.4 * machines.GIB) - 100 * machines.MIB)
    # EKS: 11 MiB x 110 pods + 255 MiB, plus 100 MiB eviction; the same CPU tiers.
    eks = allocatable(MachineShape(4, 16 * machines.GIB), "aws")
    assert eks == Allocatable(cpu_millis=3920, memory_bytes=16 * machines.GIB - (11 * 110 + 255 + 100) * machines.MIB)
    assert machine_shape("x9-unknown-4", "gcp") is None
