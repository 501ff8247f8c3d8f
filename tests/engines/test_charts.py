"""Every Helm release rendered with real helm from its released chart, and the chart store."""

from __future__ import annotations

import copy
from dataclasses import replace
import os
from pathlib import Path
import shutil

import pytest

from infra.cli.main import main
from infra.engines import helm
from infra.engines.chartstore import ChartNotFoundError, ChartStore, NoChartSourceError
from infra.offline.plan import PlanOutcome
from infra.plan import charts as chart_pins
from infra.plan.charts import Chart
from tests.conftest import STACKS, shared_plan

MIRROR = Path(os.environ.get("TFPLAT_CHART_MIRROR", ""))


@pytest.fixture(scope="module")
def outcomes() -> dict[str, PlanOutcome]:
    return {stack: shared_plan(stack)[0] for stack in STACKS}


def test_the_mirror_is_there() -> None:
    # make, CI and tests/conftest.py point at ../shared/charts; without it nothing below proves anything.
    assert MIRROR.is_dir() and any(MIRROR.glob("*.tgz"))


@pytest.mark.parametrize("stack", STACKS)
def test_every_release_renders_from_its_pinned_release(stack: str, outcomes: dict[str, PlanOutcome]) -> None:
    outcome = outcomes[stack]
    registered = [r for r in outcome.result.records if r.type == "kubernetes:helm.sh/v3:Release"]
    assert registered and not outcome.charts.unrendered
    assert [r.release.name for r in outcome.charts.rendered] == [r.inputs["name"] for r in registered]
    pins = {p.chart: p.version for p in chart_pins.charts().values()}
    for rendered in outcome.charts.rendered:
        assert rendered.release.chart.version == pins[rendered.release.chart.chart]
        folder = f"charts/{rendered.release.name}/"
        assert sum(1 for f in outcome.files if f.startswith(folder)) == len(rendered.objects) > 0
        scoped = helm.CLUSTER_SCOPED_BUILTINS | outcome.charts.catalog.cluster_scoped_kinds()
        for obj in rendered.objects:  # as helm install places them
            assert ("namespace" in obj["metadata"]) == (obj["kind"] not in scoped), obj["metadata"]


def test_the_values_the_program_passes_reach_the_objects(outcomes: dict[str, PlanOutcome]) -> None:
    outcome = outcomes["prod"]
    kps = next(r for r in outcome.charts.rendered if r.release.name == "kube-prometheus-stack")
    [prometheus] = [o for o in kps.objects if o["kind"] == "Prometheus"]
    monitoring = outcome.plan.stack.monitoring
    assert prometheus["spec"]["replicas"] == monitoring.prometheus_replicas
    assert prometheus["spec"]["externalLabels"] == {"stack": "prod", "environment": "prod"}
    assert not any(o["kind"] == "ValidatingWebhookConfiguration" for o in kps.objects)  # webhook off (values)


def test_the_stack_kubernetes_version_is_what_helm_renders_for() -> None:
    pin = chart_pins.chart(chart_pins.KUBE_PROMETHEUS_STACK)
    archive = ChartStore.from_env().archive(pin)
    release = helm.ReleaseInput(name="k", namespace="monitoring", chart=pin, values={}, kube_version="1.18")
    with pytest.raises(helm.HelmRenderError, match="kubeVersion"):  # the chart refuses Kubernetes 1.18
        helm.render(release, archive)


def test_generated_keys_never_reach_the_files(outcomes: dict[str, PlanOutcome]) -> None:
    lbc = next(r for r in outcomes["prod-aws"].charts.rendered if r.release.name == "aws-load-balancer-controller")
    [tls] = [o for o in lbc.objects if o["kind"] == "Secret"]
    assert set(tls["data"].values()) == {helm.GENERATED_B64}  # a fresh CA on every render otherwise
    assert "BEGIN" not in "".join(outcomes["prod-aws"].files.values())


def test_a_pin_that_was_never_released_fails_the_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    real = chart_pins.charts()
    bogus = {**real, "jaeger": replace(real["jaeger"], version="4.4.8")}  # only ever on a PR branch
    monkeypatch.setattr(chart_pins, "charts", lambda path=None: bogus)
    monkeypatch.setenv("TFPLAT_CHART_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TFPLAT_CHART_PULL", "0")
    assert main(["plan", "--stack", "dev", "--out", str(tmp_path), "--no-scan"]) == 1
    err = capsys.readouterr().err
    assert "chart jaeger 4.4.8 (images/versions.yaml charts.jaeger)" in err
    assert f"not in the mirror ({MIRROR})" in err
    assert ("fix: pin a released version, or fetch it: helm pull jaeger --repo "
            "https://jaegertracing.github.io/helm-charts --version 4.4.8") in err


def test_no_chart_source_at_all_is_said_loudly_and_refused_where_required(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TFPLAT_CHART_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TFPLAT_CHART_MIRROR", "")
    monkeypatch.setenv("TFPLAT_CHART_PULL", "0")  # an offline laptop
    monkeypatch.setenv("TFPLAT_REQUIRE_CHARTS", "0")
    assert main(["plan", "--stack", "dev", "--out", str(tmp_path), "--no-scan"]) == 0
    captured = capsys.readouterr()
    assert "note: UNRENDERED (no chart source): kube-prometheus-stack (kube-prometheus-stack 81.4.3)" in captured.out
    assert "NOT VALIDATED (no CRD): manifests/monitoring/podmonitor-" in captured.out
    assert "WARNING: 7 Helm release(s) NOT rendered, validated or scanned" in captured.err  # Kueue, JobSet, KEDA too
    monkeypatch.setenv("TFPLAT_REQUIRE_CHARTS", "1")  # make test and CI
    assert main(["plan", "--stack", "dev", "--out", str(tmp_path), "--no-scan"]) == 1
    assert "TFPLAT_REQUIRE_CHARTS=1 refuses that" in capsys.readouterr().err


def test_a_render_is_stored_by_content_and_read_back_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              outcomes: dict[str, PlanOutcome]) -> None:
    monkeypatch.setenv("TFPLAT_ENGINE_CACHE", str(tmp_path / "cache"))
    rendered = next(r for r in outcomes["dev"].charts.rendered if r.release.name == "dcgm-exporter")
    release = rendered.release
    archive = ChartStore.from_env().archive(release.chart)
    helm._template.cache_clear()  # as a fresh process: only the disk holds earlier renders
    fresh = helm.render(release, archive)
    assert fresh and len(list((tmp_path / "cache" / "helm").glob("*.json"))) == 1

    def no_helm(_: str) -> str:
        raise AssertionError("helm ran for a render it has done before")

    monkeypatch.setattr(helm, "_run_helm", no_helm)
    helm._template.cache_clear()
    assert helm.render(release, archive) == fresh
    helm._template.cache_clear()
    with pytest.raises(AssertionError, match="helm ran"):  # other values: helm again
        helm.render(replace(release, values={**release.values, "podAnnotations": {"a": "b"}}), archive)
    helm._template.cache_clear()


def test_the_store_copies_from_the_mirror_and_checks_what_it_copies(tmp_path: Path) -> None:
    pin = chart_pins.chart(chart_pins.DCGM_EXPORTER)
    store = ChartStore(cache_dir=tmp_path / "cache", mirror=MIRROR, pull=False)
    cached = store.archive(pin)
    assert cached.parent == tmp_path / "cache" and cached.read_bytes() == (MIRROR / cached.name).read_bytes()
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(MIRROR / cached.name, mirror / "dcgm-exporter-9.9.9.tgz")  # mislabelled archive
    liar = ChartStore(cache_dir=tmp_path / "c2", mirror=mirror, pull=False)
    with pytest.raises(ChartNotFoundError, match=r"holds chart dcgm-exporter 4\.8\.1"):
        liar.archive(replace(pin, version="9.9.9"))
    with pytest.raises(NoChartSourceError):
        ChartStore(cache_dir=tmp_path / "c3", mirror=None, pull=False).archive(pin)


def test_crds_of_the_charts_serve_the_custom_resources(outcomes: dict[str, PlanOutcome]) -> None:
    catalog = outcomes["prod-aws"].charts.catalog
    assert catalog.versions[("monitoring.coreos.com/v1", "PrometheusRule")].source == "kube-prometheus-stack 81.4.3"
    assert catalog.versions[("gateway.k8s.aws/v1", "LoadBalancerConfiguration")].source == \
        "aws-load-balancer-controller 3.5.0"
    assert catalog.versions[("gateway.networking.k8s.io/v1", "Gateway")].source == "Gateway API v1.4.1"
    assert not catalog.unsupported  # every CEL rule of these CRDs was evaluated
    assert any("the stack installs v1.6.0" in n for n in outcomes["prod-aws"].charts.notes)


def test_a_bad_pod_monitor_is_refused_by_the_operators_own_crd(outcomes: dict[str, PlanOutcome]) -> None:
    from infra.offline.crd_validate import validate_custom

    catalog = outcomes["prod"].charts.catalog
    # A deep copy: the records are the shared plan every test of this process reads.
    monitor = copy.deepcopy(next(dict(r.inputs) for r in outcomes["prod"].result.records
                                 if r.type.endswith("PodMonitor")))
    monitor["spec"]["podMetricsEndpoints"][0]["scrapeTimeout"] = "30 seconds"
    [problem] = validate_custom({"m.yaml": monitor}, catalog)
    assert problem.path == "spec.podMetricsEndpoints.0.scrapeTimeout" and "does not match" in problem.message


def test_training_objects_meet_the_kueue_charts_own_crds(outcomes: dict[str, PlanOutcome]) -> None:
    """Kueue ships its CRDs as chart templates: the rendered chart's CRDs (schema and CEL rules)
    judge dev's ClusterQueue, flavors and LocalQueues; a quota that breaks a CEL rule is refused."""
    from infra.offline.crd_validate import validate_custom

    outcome = outcomes["dev"]
    catalog = outcome.charts.catalog
    assert catalog.versions[("kueue.x-k8s.io/v1beta2", "ClusterQueue")].source == "kueue 0.19.2"
    assert catalog.versions[("jobset.x-k8s.io/v1alpha2", "JobSet")].source == "jobset 0.12.0"
    kinds = {r.inputs.get("kind") for r in outcome.result.records if str(r.inputs.get("apiVersion", "")).startswith(
        "kueue.x-k8s.io/")}
    assert kinds == {"ClusterQueue", "LocalQueue", "ResourceFlavor"}
    assert not any("NOT VALIDATED" in n and "kueue" in n for n in outcome.notes)
    queue = copy.deepcopy(next(dict(r.inputs) for r in outcome.result.records  # the shared plan's: a copy
                               if r.inputs.get("kind") == "ClusterQueue"))
    group = queue["spec"]["resourceGroups"][0]
    group["flavors"][0]["resources"] = group["flavors"][0]["resources"][1:]  # a covered resource left out
    [problem] = validate_custom({"q.yaml": queue}, catalog)
    assert problem.path == "spec.resourceGroups.0"
    assert problem.message == "flavors must have the same number of resources as the coveredResources"


def test_oci_charts_are_pulled_by_reference() -> None:
    from infra.engines.chartstore import pull_source

    kueue = chart_pins.chart(chart_pins.KUEUE)
    assert pull_source(kueue) == ["oci://registry.k8s.io/kueue/charts/kueue"]
    jaeger = chart_pins.chart("jaeger")
    assert pull_source(jaeger) == ["jaeger", "--repo", jaeger.repository]


def test_unused_chart_cannot_be_mistaken(tmp_path: Path) -> None:
    # A pin is exact: a version range never reaches helm pull.
    with pytest.raises(chart_pins.ChartPinError, match="pin an exact version"):
        chart_pins._parse("x", {"repository": "https://e.test", "chart": "x", "version": "~1.2"}, tmp_path)
    assert Chart(key="x", repository="https://e.test", chart="x", version="1.2.3").version == "1.2.3"
