"""checkov over everything each stack deploys: no finding without a fix or a written waiver."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.cli.main import main
from infra.engines import scan as scan_module
from infra.engines.scan import GLOBAL_SKIPS, scan
from infra.offline.plan import ScanFindingsError, offline_plan
from infra.plan import scan_waivers
from infra.plan.monitoring import tracing
from tests.conftest import REPO, STACKS, shared_plan


@pytest.mark.parametrize("stack", STACKS)
def test_nothing_a_stack_deploys_has_an_unjustified_finding(stack: str) -> None:
    outcome, _ = shared_plan(stack)
    report = outcome.scan
    assert report is not None and report.findings == ()
    scanned = sum(1 for f in outcome.files if f.endswith(".yaml"))
    assert report.resources >= scanned - 5 and report.passed > 10 * len(outcome.charts.rendered)
    assert report.waivers and all(w.reason and w.reason != "No comment provided" for w in report.waivers)
    printed = [n for n in outcome.notes if n.startswith("scan waiver: ")]
    assert len(printed) == len(report.waivers)
    # The genuine needs are waived where they are, not fixed away by accident or globally.
    checks = {(w.check_id, w.resource.split(".")[0]) for w in report.waivers}
    assert ("CKV_K8S_17", "DaemonSet") in checks and ("CKV_K8S_19", "DaemonSet") in checks  # node-exporter


def test_a_new_finding_fails_the_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    real = tracing.collector

    def careless(stack: object) -> dict[str, object]:
        values = real(stack)  # type: ignore[arg-type]
        values["securityContext"] = {}  # someone drops the hardening
        return values

    monkeypatch.setattr(tracing, "collector", careless)
    with pytest.raises(ScanFindingsError) as err:
        offline_plan(REPO, "prod", tmp_path, scan=True)
    found = {(f.check_id, f.resource) for f in err.value.report.findings}
    assert ("CKV_K8S_22", "Deployment.monitoring.otel-collector") in found  # read-only root filesystem
    assert main(["plan", "--stack", "prod", "--out", str(tmp_path)]) == 1
    text = capsys.readouterr().err
    assert "checkov finds" in text and "CKV_K8S_22" in text and "checkov.io/skip<N>" in text


def test_a_waiver_is_honoured_by_checkov_itself() -> None:
    meta: dict[str, object] = {"name": "p", "namespace": "x"}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
           "spec": {"hostPID": True, "containers": [{"name": "c", "image": "busybox:1"}]}}
    plain = scan({"p.yaml": _yaml(pod)})
    assert "CKV_K8S_17" in {f.check_id for f in plain.findings}
    meta["annotations"] = scan_waivers.skip_annotations({"CKV_K8S_17": "reads the node's processes"})
    waived = scan({"p.yaml": _yaml(pod)})
    assert "CKV_K8S_17" not in {f.check_id for f in waived.findings}
    assert [(w.check_id, w.reason) for w in waived.waivers] == [("CKV_K8S_17", "reads the node's processes")]
    assert "CKV_K8S_43" in GLOBAL_SKIPS  # image digests: the documented exception


def test_a_waiver_needs_a_reason_checkov_can_read() -> None:
    with pytest.raises(ValueError, match="no '='"):
        scan_waivers.skip_annotations({"CKV_K8S_17": "a=b"})
    with pytest.raises(ValueError, match="non-empty"):
        scan_waivers.skip_annotations({"CKV_K8S_17": " "})


def test_a_scan_is_stored_by_content_and_read_back_the_same(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFPLAT_ENGINE_CACHE", str(tmp_path / "cache"))
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "x"},
           "spec": {"hostPID": True, "containers": [{"name": "c", "image": "busybox:1"}]}}
    fresh = scan({"p.yaml": _yaml(pod)})
    assert len(list((tmp_path / "cache" / "scan").glob("*.json"))) == 1

    def no_checkov(*_: object) -> str:
        raise AssertionError("checkov ran for files it has scanned before")

    monkeypatch.setattr(scan_module, "_run_checkov", no_checkov)
    assert scan({"p.yaml": _yaml(pod)}) == fresh  # read back: the same findings, waivers and counts
    with pytest.raises(AssertionError, match="checkov ran"):  # other content: checkov again
        scan({"p.yaml": _yaml({**pod, "metadata": {"name": "q", "namespace": "x"}})})
    with pytest.raises(AssertionError, match="checkov ran"):  # other skips: checkov again
        scan({"p.yaml": _yaml(pod)}, skips={})


def _yaml(obj: object) -> str:
    from infra.offline.render import dump_yaml

    return dump_yaml(obj)
