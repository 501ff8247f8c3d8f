"""images/versions.yaml is config a platform team edits: a mistake in it is refused like one in a
stack file (file, line, field, value, fix; exit 2), never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.bounded_yaml import YamlFileError
from infra.cli.main import main
from infra.plan import charts as chart_pins
from infra.rules.images import VERSIONS_FILE, read_versions

SHIPPED = VERSIONS_FILE.read_text(encoding="utf-8")


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    assert old in SHIPPED
    path = tmp_path / "versions.yaml"
    path.write_text(SHIPPED.replace(old, new, 1), encoding="utf-8")
    return path


def test_the_shipped_file_meets_its_schema() -> None:
    assert {"images", "charts", "chart_images"} <= set(read_versions())


@pytest.mark.parametrize(("old", "new", "field", "fragment"), [
    ('version: "4.4.7"', "version: ~4.4", "charts.jaeger.version", "'~4.4' does not match"),
    ('tag: "2.19.1"', "tag: 2.19", "images.tfserving-cpu.tag", "2.19 is not of type 'string'"),
    ("repository: https://jaegertracing.github.io/helm-charts", "repository: http://jaegertracing.github.io",
     "charts.jaeger.repository", "does not match"),
    ("    chart: jaeger\n", "    chart: jaeger\n    values: {}\n", "charts.jaeger",
     "Additional properties are not allowed ('values' was unexpected)"),
    ("  jobset:\n    - registry.k8s.io", "  jobst:\n    - registry.k8s.io", "chart_images.jobset",
     "chart 'jobset' has no chart_images entry"),
    ('"1.34": {tag: v1.34.5,', '"1.34": {tag: 1.34,', "cluster_autoscaler.releases.1.34.tag",
     "1.34 is not of type 'string'"),
])
def test_a_broken_versions_file_names_line_field_value_and_fix(tmp_path: Path, old: str, new: str, field: str,
                                                              fragment: str) -> None:
    path = _broken(tmp_path, old, new)
    with pytest.raises(YamlFileError) as caught:
        read_versions(path)
    err = caught.value
    assert err.field == field and fragment in err.message and err.hint
    assert err.line is not None
    assert err.render().startswith(f"{path}:{err.line}: {field}: ")


def test_a_chart_the_platform_needs_but_the_file_lost_exits_2(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    real = chart_pins.charts()
    monkeypatch.setattr(chart_pins, "charts", lambda path=VERSIONS_FILE: {
        k: v for k, v in real.items() if k != "kube-prometheus-stack"})
    assert main(["plan", "--stack", "prod", "--no-scan", "--out", "/nonexistent-never-written"]) == 2
    err = capsys.readouterr().err
    assert "charts.kube-prometheus-stack is not pinned" in err and "fix: pin it in images/versions.yaml" in err
    assert "Traceback" not in err and "nothing was changed" in err
