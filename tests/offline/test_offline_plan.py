"""The offline plan: files written, schema-valid, byte-identical across runs, failing clearly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.cli.main import main
from infra.engines.schema import is_builtin, validate_builtin
from infra.offline.crd_validate import validate_custom
from infra.offline.plan import InvalidPlanError, offline_plan
from infra.plan.manifests import serving
from tests.conftest import REPO, STACKS, shared_plan


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("stack", STACKS)
def test_plan_twice_is_byte_identical(stack: str, tmp_path: Path) -> None:
    _, shared = shared_plan(stack)  # the session's plan of the stack; this one is planned afresh
    offline_plan(REPO, stack, tmp_path / "b")
    first, second = _tree(shared / stack), _tree(tmp_path / "b" / stack)
    assert first == second
    assert "resources.json" in first and any(k.startswith("manifests/") for k in first)


def test_a_plan_without_manifests_writes_the_same_resources_json_alone(tmp_path: Path) -> None:
    """What `tfplat diff` plans: the same resources.json, no YAML written (nor scanned)."""
    _, shared = shared_plan("prod")
    outcome = offline_plan(REPO, "prod", tmp_path, manifests=False)
    assert list(outcome.files) == ["resources.json"] and list(_tree(tmp_path / "prod")) == ["resources.json"]
    assert _tree(tmp_path / "prod")["resources.json"] == (shared / "prod" / "resources.json").read_bytes()
    with pytest.raises(ValueError, match="the scan reads the manifests"):
        offline_plan(REPO, "prod", tmp_path, scan=True, manifests=False)


@pytest.mark.parametrize("stack", STACKS)
def test_resources_json_is_sorted_and_complete(stack: str) -> None:
    outcome, build = shared_plan(stack)
    doc = json.loads((build / stack / "resources.json").read_text())
    urns = [r["urn"] for r in doc["resources"]]
    assert urns == sorted(urns) and len(urns) == len(set(urns)) == doc["resourceCount"]
    assert doc["resourceCount"] == len(outcome.result.records)
    for r in doc["resources"]:
        assert {"type", "name", "parent", "inputs"} <= set(r)
    assert str(build) not in (build / stack / "resources.json").read_text()


@pytest.mark.parametrize("stack", STACKS)
def test_every_manifest_is_valid_for_the_cluster_version(stack: str) -> None:
    outcome, build = shared_plan(stack)
    files = sorted((build / stack / "manifests").rglob("*.yaml"))
    assert files
    objects = {str(f): yaml.safe_load(f.read_text()) for f in files}
    builtin = {k: v for k, v in objects.items() if is_builtin(v["apiVersion"])}
    assert any(v["kind"] == "HTTPRoute" for v in objects.values())  # CRDs are rendered too
    custom = {k: v for k, v in objects.items() if not is_builtin(v["apiVersion"])}
    assert validate_custom(custom, outcome.charts.catalog) == []
    assert validate_builtin(builtin, outcome.plan.stack.cluster.version) == []


def test_an_invalid_object_fails_the_plan_with_its_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = serving.network_policy

    def broken(f: Any) -> dict[str, Any]:
        obj = real(f)
        obj["spec"]["ingress"][0]["ports"][0]["prot"] = "TCP"
        return obj

    monkeypatch.setattr(serving, "network_policy", broken)
    with pytest.raises(InvalidPlanError) as err:
        offline_plan(REPO, "dev", tmp_path)
    text = str(err.value)
    assert "manifests/serving/networkpolicy-mobilenet.yaml: spec.ingress[0].ports[0]:" in text
    assert "'prot' was unexpected" in text


def test_cli_plan_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--stack", "dev", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Models:" in out and "resnet50" in out and "green 100%" in out
    assert main(["plan", "--stack", "devv", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert 'no stack named "devv"' in err and 'did you mean "dev"?' in err
