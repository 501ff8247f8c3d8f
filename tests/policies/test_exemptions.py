"""Per-object policy waivers: explicit, reasoned, workload rules only, and always reported."""

from __future__ import annotations

from typing import Any

from infra.plan.manifests.device_plugin import daemonset
from infra.rules.images import image
from policies.tfplat_policies import check_records, exemptions
from policies.tfplat_policies.model import EXEMPTION_REASON, EXEMPTIONS, exemption

DAEMONSET = "kubernetes:apps/v1:DaemonSet"


def _plugin(annotations: dict[str, str] | None) -> dict[str, Any]:
    img = image("nvidia-device-plugin")
    assert img is not None
    obj = daemonset(img, ["nvidia-l4"])
    if annotations is None:
        obj["metadata"].pop("annotations")
    else:
        obj["metadata"]["annotations"] = annotations
    return {"urn": f"x${DAEMONSET}::plugin", "type": DAEMONSET, "name": "plugin", "parent": None,
            "custom": True, "inputs": obj}


def _ids(records: list[dict[str, Any]]) -> set[str]:
    return {v.policy for v in check_records(records, environment="prod") if v.enforcement == "mandatory"}


def test_the_device_plugin_needs_its_exemptions() -> None:
    assert {"workload-non-root", "workload-probes"} <= _ids([_plugin(None)])
    assert _ids([_plugin({EXEMPTIONS: "workload-non-root, workload-probes", EXEMPTION_REASON: "why"})]) \
        .isdisjoint({"workload-non-root", "workload-probes"})
    shipped = [_plugin({**daemonset(image("nvidia-device-plugin"), ["x"])["metadata"]["annotations"]})]  # type: ignore[arg-type]
    assert _ids(shipped).isdisjoint({"workload-non-root", "workload-probes"})
    assert len(exemptions(shipped)) == 2 and all("root-owned" in e for e in exemptions(shipped))


def test_an_exemption_without_a_reason_counts_for_nothing() -> None:
    assert "workload-non-root" in _ids([_plugin({EXEMPTIONS: "workload-non-root"})])
    assert "workload-non-root" in _ids([_plugin({EXEMPTIONS: "workload-non-root", EXEMPTION_REASON: "  "})])


def test_only_workload_rules_can_be_waived() -> None:
    props = {"metadata": {"annotations": {EXEMPTIONS: "bucket-private,workload-probes", EXEMPTION_REASON: "r"}}}
    assert exemption("bucket-private", props) is None
    assert exemption("workload-probes", props) == "r"
    assert exemption("workload-non-root", props) is None  # not listed
