"""Chart archives for pinned chart versions: a local cache, a mirror folder, `helm pull`.

Like a package cache. `archive(pin)` looks in the cache (TFPLAT_CHART_CACHE, default
.cache/charts in the checkout, git-ignored), then in the mirror (TFPLAT_CHART_MIRROR: a
folder of `<chart>-<version>.tgz` files, such as an organisation's offline copy of released
charts), then asks the chart's repository with `helm pull`. Whatever it finds is copied into
the cache, after checking that the archive's Chart.yaml names the pinned chart and version.
Chart archives are third-party code: they are never committed to this repository.

Two failures differ on purpose:
- ChartNotFoundError: a source was there (a mirror, or a repository that answered) and the
  pinned version was not in it. The pin is wrong or unreleased; the plan fails.
- NoChartSourceError: no mirror is set and the repository could not be reached (an offline
  laptop). The plan goes on without that release's objects and says so loudly; `make test`
  and CI refuse that (TFPLAT_REQUIRE_CHARTS=1).
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
import shutil
import subprocess
import tarfile
import tempfile

import yaml

from infra.engines.tools import CODE_ROOT, helm
from infra.plan.charts import Chart

PULL_TIMEOUT_S = 60
# Repositories that failed at the network level in this process: ask each only once.
_unreachable: set[str] = set()


class ChartSourceError(Exception):
    """A pinned chart archive could not be had."""

    def __init__(self, pin: Chart, reason: str, fix: str) -> None:
        self.pin, self.reason, self.fix = pin, reason, fix
        super().__init__(f"chart {pin.chart} {pin.version} (images/versions.yaml charts.{pin.key}): "
                         f"{reason}\n    fix: {fix}")


class ChartNotFoundError(ChartSourceError):
    pass


class NoChartSourceError(ChartSourceError):
    pass


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser().resolve() if value else None


def archive_name(pin: Chart) -> str:
    return f"{pin.chart}-{pin.version}.tgz"


def pull_source(pin: Chart) -> list[str]:
    """helm pull's arguments naming the chart: an OCI reference, or a name in an index repository."""
    return [pin.ref] if pin.oci else [pin.chart, "--repo", pin.repository]


def chart_identity(archive: Path) -> tuple[str, str]:
    """(name, version) from the archive's top-level Chart.yaml."""
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if len(parts) == 2 and parts[1] == "Chart.yaml":
                handle = tar.extractfile(member)
                if handle is not None:
                    meta = yaml.safe_load(handle.read())
                    return str(meta.get("name")), str(meta.get("version"))
    raise ValueError(f"{archive} holds no Chart.yaml")


@dataclass(frozen=True)
class ChartStore:
    cache_dir: Path
    mirror: Path | None = None
    pull: bool = True

    @classmethod
    def from_env(cls) -> ChartStore:
        """TFPLAT_CHART_CACHE, TFPLAT_CHART_MIRROR; TFPLAT_CHART_PULL=0 never asks a repository."""
        return cls(cache_dir=_env_path("TFPLAT_CHART_CACHE") or CODE_ROOT / ".cache" / "charts",
                   mirror=_env_path("TFPLAT_CHART_MIRROR"),
                   pull=os.environ.get("TFPLAT_CHART_PULL", "1") != "0")

    def archive(self, pin: Chart) -> Path:
        """The cached archive of `pin`, fetched first if need be (see the module doc)."""
        name = archive_name(pin)
        cached = self.cache_dir / name
        if cached.is_file():
            return cached
        if self.mirror is not None and (self.mirror / name).is_file():
            return self._store(pin, self.mirror / name)
        pull_error = self._pull(pin) if self.pull else "pulling is off (TFPLAT_CHART_PULL=0)"
        if pull_error is None:
            return cached
        fetch = (f"pin a released version, or fetch it: helm pull {' '.join(pull_source(pin))} "
                 f"--version {pin.version} --destination {self.cache_dir}")
        where = f"not in the chart cache ({self.cache_dir})"
        if self.mirror is not None:
            raise ChartNotFoundError(pin, f"{where}, not in the mirror ({self.mirror}), and {pull_error}",
                                     f"{fetch}; or copy {name} into the mirror")
        if pin.repository in _unreachable or not self.pull:
            raise NoChartSourceError(pin, f"{where}, no mirror is set (TFPLAT_CHART_MIRROR) and {pull_error}",
                                     f"set TFPLAT_CHART_MIRROR to a folder holding {name}, or {fetch}")
        raise ChartNotFoundError(pin, f"{where} and {pull_error}", fetch)

    def _store(self, pin: Chart, source: Path) -> Path:
        name, version = chart_identity(source)
        if (name, version) != (pin.chart, pin.version):
            raise ChartNotFoundError(pin, f"{source} holds chart {name} {version}",
                                     f"replace {source} with the archive of {pin.chart} {pin.version}")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        target = self.cache_dir / archive_name(pin)
        with tempfile.NamedTemporaryFile(dir=self.cache_dir, prefix=".part-", delete=False) as tmp:
            shutil.copyfileobj(source.open("rb"), tmp)
        Path(tmp.name).replace(target)  # atomic: a parallel plan never sees half an archive
        return target

    def _pull(self, pin: Chart) -> str | None:
        """None on success; else why the pull failed (network failures are remembered)."""
        if pin.repository in _unreachable:
            return f"{pin.repository} was unreachable"
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.cache_dir, prefix=".pull-") as tmp:
            # helm's own config and cache stay inside the temp folder: no ~/.config/helm.
            env = {**os.environ, **{f"HELM_{k}_HOME": str(Path(tmp) / k.lower()) for k in ("CACHE", "CONFIG", "DATA")}}
            try:
                proc = subprocess.run([helm(), "pull", *pull_source(pin), "--version", pin.version,
                                       "--destination", tmp], capture_output=True, text=True, check=False,
                                      env=env, timeout=PULL_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _unreachable.add(pin.repository)
                return f"helm pull from {pin.repository} timed out after {PULL_TIMEOUT_S}s"
            got = Path(tmp) / archive_name(pin)
            if proc.returncode == 0 and got.is_file():
                self._store(pin, got)
                return None
            message = " ".join(proc.stderr.split())[-300:] or f"exit status {proc.returncode}"
            if "not found" not in message and "404" not in message:
                _unreachable.add(pin.repository)  # DNS, connection, TLS: the network, not the pin
            return f"helm pull from {pin.repository} failed: {message}"
