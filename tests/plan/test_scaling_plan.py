"""The scaling plan of a fleet: signals per accelerator, what the plan drops when data cannot
reach Prometheus, the request target, swap floors, scale to zero, and the ScaledObject."""

from __future__ import annotations

from pathlib import Path

from infra.config.loader import load
from infra.plan.manifests.scaling import TRANSFER_HPA, scaled_object
from infra.plan.scaling.fleet import FleetScaling
from infra.plan.stack import plan_stack
from infra.rules import scaling
from tests.conftest import REPO


def _scaling(root: Path, stack: str, model: str) -> FleetScaling:
    fleet = next(f for f in plan_stack(load(root, stack)).fleets if f.name == model)
    assert fleet.scaling is not None
    return fleet.scaling


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_default_signals_per_accelerator() -> None:
    assert _scaling(REPO, "prod", "resnet50").signals == ("requests", "latency", "queue", "accelerator")
    assert _scaling(REPO, "prod", "bert-ranker").signals == ("requests", "latency", "queue", "accelerator")
    assert _scaling(REPO, "prod", "mobilenet").signals == ("requests", "latency", "queue", "cpu")


def test_the_request_target_derives_from_batching_or_the_model_file(repo_copy: Path) -> None:
    s = _scaling(REPO, "prod", "resnet50")
    assert s.request_target == int(64 * 1000 / 40 * scaling.REQUEST_TARGET_SHARE) and s.request_target_derived
    _edit(repo_copy / "models" / "resnet50.yaml", "    max_replicas: 8\n",
          "    max_replicas: 8\n    target_requests_per_replica: 900\n")
    s = _scaling(repo_copy, "prod", "resnet50")
    assert s.request_target == 900 and not s.request_target_derived


def test_gke_managed_gpu_metrics_drop_the_gpu_trigger(repo_copy: Path) -> None:
    _edit(repo_copy / "stacks" / "Pulumi.prod.yaml", "  tfplat:monitoring:\n",
          "  tfplat:monitoring:\n    gpu_metrics: gke-managed\n")
    s = _scaling(repo_copy, "prod", "resnet50")
    assert s.signals == ("requests", "latency", "queue")
    assert any("gke-managed" in n for n in s.notes)


def test_without_monitoring_a_fleet_scales_on_cpu_alone(repo_copy: Path) -> None:
    _edit(repo_copy / "stacks" / "Pulumi.staging.yaml", "config:\n", "config:\n  tfplat:monitoring: {enabled: false}\n")
    s = _scaling(repo_copy, "staging", "resnet50")
    assert s.signals == ("cpu",) and "no Prometheus" in s.notes[0]
    assert {t.type for c in s.colors for t in c.triggers} == {"cpu"}


def test_behaviour_is_sized_by_the_accelerators_start() -> None:
    s = _scaling(REPO, "prod", "resnet50")
    assert s.startup_s == 300 + 180 + 900
    assert s.behavior.scale_down_stabilization_s == s.startup_s
    assert _scaling(REPO, "prod", "mobilenet").behavior.scale_down_stabilization_s == 90 + 60 + 600


def test_swap_shares_the_minimum_by_traffic_weight(repo_copy: Path) -> None:
    _edit(repo_copy / "stacks" / "Pulumi.prod.yaml",
          "      live: green\n      autoscaling: {min_replicas: 2, max_replicas: 10}",
          "      live: green\n      canary_percent: 0\n      autoscaling: {min_replicas: 4, max_replicas: 10}\n"
          "      version_change: swap")
    s = _scaling(repo_copy, "prod", "resnet50")
    assert s.version_change == "swap"
    floors = {c.color: c.min_replicas for c in s.colors}
    assert floors == {"green": 4, "blue": 1}
    _edit(repo_copy / "stacks" / "Pulumi.prod.yaml", "      canary_percent: 0\n", "      canary_percent: 50\n")
    floors = {c.color: c.min_replicas for c in _scaling(repo_copy, "prod", "resnet50").colors}
    assert floors == {"green": 2, "blue": 2}


def test_auto_picks_swap_only_where_both_minimums_do_not_fit(repo_copy: Path) -> None:
    assert _scaling(REPO, "prod", "resnet50").version_change == "parallel"
    _edit(repo_copy / "stacks" / "Pulumi.prod.yaml", "autoscaling: {min_replicas: 2, max_replicas: 10}",
          "autoscaling: {min_replicas: 7, max_replicas: 10}")
    assert _scaling(repo_copy, "prod", "resnet50").version_change == "swap"  # 2 x 7 L4 > 12


def test_scale_to_zero_in_dev_only_and_the_scaled_object() -> None:
    plan = plan_stack(load(REPO, "dev"))
    fleet = next(f for f in plan.fleets if f.name == "resnet50")
    color = fleet.colors[0]
    obj = scaled_object(fleet, color, plan.prometheus_url)
    spec = obj["spec"]
    assert obj["metadata"]["annotations"][TRANSFER_HPA] == "true"
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["name"] == color.deployment
    assert spec["idleReplicaCount"] == 0 and spec["minReplicaCount"] == 1
    assert spec["cooldownPeriod"] >= fleet.scaling.cold_start_budget_s if fleet.scaling else False
    assert spec["initialCooldownPeriod"] == 1380
    cron = next(t for t in spec["triggers"] if t["type"] == "cron")["metadata"]
    assert cron == {"timezone": "UTC", "start": "37 7 * * 1-5", "end": "0 20 * * 1-5", "desiredReplicas": "1"}
    requests = next(t for t in spec["triggers"] if t["name"] == "requests")
    assert requests["metricType"] == "AverageValue" and requests["metadata"]["activationThreshold"] == "0"
    assert requests["metadata"]["serverAddress"] == "http://kps-prometheus.monitoring.svc:9090"
    prod = plan_stack(load(REPO, "prod"))
    for f in prod.fleets:
        for c in f.colors:
            assert "idleReplicaCount" not in scaled_object(f, c, prod.prometheus_url)["spec"]
