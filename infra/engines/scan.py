"""checkov over Kubernetes objects: findings, and the waivers checkov itself honoured.

A waiver is an annotation on the object checkov reports, `checkov.io/skip<N>: <CHECK>=<reason>`
(set through a chart's values, or in tfplat's own manifests); checkov then lists the check as
skipped with that reason, so the reason travels with the object into the cluster. Checks
skipped for every object are in GLOBAL_SKIPS, each with its reason (printed with the plan).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
import json
import os
from pathlib import Path
import subprocess
import tempfile
from typing import Any

from infra.engines import content_cache
from infra.engines.tools import checkov

SCAN_TIMEOUT_S = 600
SKIP_ANNOTATION = "checkov.io/skip"
GLOBAL_SKIPS = {
    "CKV_K8S_43": "images are pinned by tag until a registry is reachable to resolve digests (`make pin-images`); "
                  "the plan lists every image without a digest",
}


@dataclass(frozen=True, order=True)
class Finding:
    check_id: str
    resource: str  # Kind.namespace.name, as checkov names it
    where: str  # the object's file (relative to the build folder)
    check_name: str

    def render(self) -> str:
        return f"{self.where}: {self.check_id} {self.check_name} ({self.resource})"


@dataclass(frozen=True, order=True)
class Waiver:
    check_id: str
    resource: str
    where: str
    reason: str

    def render(self) -> str:
        return f"{self.check_id} waived for {self.resource}: {self.reason}"


@dataclass(frozen=True)
class ScanReport:
    findings: tuple[Finding, ...]
    waivers: tuple[Waiver, ...]
    passed: int
    resources: int

    def waivers_by_check(self) -> dict[str, int]:
        return dict(sorted(Counter(w.check_id for w in self.waivers).items()))

    def findings_by_check(self) -> dict[str, int]:
        return dict(sorted(Counter(f.check_id for f in self.findings).items()))


def _results(raw: Any) -> list[Mapping[str, Any]]:
    reports = raw if isinstance(raw, list) else [raw]
    return [r for r in reports if isinstance(r, Mapping) and r.get("check_type") == "kubernetes"]


def scan(files: Mapping[str, str], *, skips: Mapping[str, str] = GLOBAL_SKIPS) -> ScanReport:
    """files: {relative path: one object's YAML}. Runs checkov's Kubernetes framework once
    (or reads what it printed for the same files before: infra.engines.content_cache)."""
    binary = Path(checkov())  # a missing checkov fails the scan even where an old output is stored
    entry = content_cache.key([_checkov_identity(binary), *(c.encode() for c in sorted(skips)), b"files",
                               *(part for rel in sorted(files) for part in (rel.encode(), files[rel].encode()))])
    output = content_cache.cached("scan", entry, lambda: _run_checkov(files, skips))
    try:
        raw = json.loads(output) if output.strip() else {}
    except json.JSONDecodeError:
        raise RuntimeError(f"checkov printed no JSON: {output[-2000:]}") from None
    return _report(raw)


def _checkov_identity(binary: Path) -> bytes:
    """What makes two checkov installs print the same: its version file (else the binary's path and age)."""
    venv = binary.resolve().parent.parent
    for version_file in sorted(venv.glob("lib/python*/site-packages/checkov/version.py")):
        return version_file.read_bytes()
    return f"{binary.resolve()}:{binary.stat().st_mtime_ns}".encode()


def _run_checkov(files: Mapping[str, str], skips: Mapping[str, str]) -> str:
    """checkov's JSON for the files (raises when it printed none)."""
    with tempfile.TemporaryDirectory(prefix="tfplat-scan-") as tmp:
        for rel, text in files.items():
            path = Path(tmp) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        args = [checkov(), "--directory", tmp, "--framework", "kubernetes", "--output", "json",
                "--compact", "--skip-download", "--no-fail-on-crash"]
        for check in sorted(skips):
            args += ["--skip-check", check]
        # No telemetry, no calls home: the scan runs offline and the same everywhere.
        env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_ON_FAIL": "0",
               "LOG_LEVEL": "ERROR", "ANSI_COLORS_DISABLED": "1"}
        proc = subprocess.run(args, capture_output=True, text=True, check=False, timeout=SCAN_TIMEOUT_S, env=env)
    try:
        raw = json.loads(proc.stdout) if proc.stdout.strip() else {}
    except json.JSONDecodeError:
        raise RuntimeError(f"checkov printed no JSON (exit {proc.returncode}): {proc.stderr[-2000:]}") from None
    return json.dumps(_kept(raw), sort_keys=True)


def _kept(raw: Any) -> list[dict[str, Any]]:
    """What _report reads of checkov's JSON (passed checks are only counted): a few KB to store
    instead of megabytes."""
    def item(i: Mapping[str, Any]) -> dict[str, Any]:
        return {"check_id": i["check_id"], "resource": i["resource"], "file_path": i["file_path"],
                "check_name": i.get("check_name", ""),
                "check_result": {"suppress_comment": (i.get("check_result") or {}).get("suppress_comment", "")}}

    return [{"check_type": r["check_type"], "summary": r.get("summary", {}),
             "results": {k: [item(i) for i in r.get("results", {}).get(k, [])]
                         for k in ("failed_checks", "skipped_checks")}}
            for r in _results(raw)]


def _report(raw: Any) -> ScanReport:
    findings: list[Finding] = []
    waivers: list[Waiver] = []
    passed = resources = 0
    for report in _results(raw):
        results = report.get("results", {})
        summary = report.get("summary", {})
        passed += int(summary.get("passed", 0))
        resources += int(summary.get("resource_count", 0))
        for item in results.get("failed_checks", []):
            findings.append(Finding(item["check_id"], item["resource"], item["file_path"].lstrip("/"),
                                    item.get("check_name", "")))
        for item in results.get("skipped_checks", []):
            reason = (item.get("check_result") or {}).get("suppress_comment", "")
            waivers.append(Waiver(item["check_id"], item["resource"], item["file_path"].lstrip("/"), reason))
    return ScanReport(findings=tuple(sorted(set(findings))), waivers=tuple(sorted(set(waivers))),
                      passed=passed, resources=resources)
