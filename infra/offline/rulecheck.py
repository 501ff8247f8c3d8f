"""`promtool check rules` over every PrometheusRule the offline plan renders.

The CRD schema (tools/crd-validate) checks the shape of a PrometheusRule; only Prometheus'
own parser catches a broken PromQL expression, a bad `for:` or a template that does not
parse. Not planner logic (it runs a program): it lives here because it belongs to the
monitoring layer; infra.offline.plan calls it next to the schema checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
import shutil
import subprocess
import tempfile
from typing import Any

from infra.engines.schema import Invalid
from infra.offline.render import dump_yaml

RULE_KIND = ("monitoring.coreos.com/v1", "PrometheusRule")


class PromtoolMissingError(RuntimeError):
    pass


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        raise PromtoolMissingError("alert rules cannot be checked: install promtool "
                                   "(Debian/Ubuntu: apt-get install prometheus)")
    return found


def rule_file(obj: Mapping[str, Any]) -> str:
    """A PrometheusRule's spec as a Prometheus rule file (the operator writes the same), in
    the manifests' YAML writer (a thousand models' rule files took PyYAML's pure-Python
    representer 10 s)."""
    return dump_yaml({"groups": obj["spec"]["groups"]})


def _where(obj: Mapping[str, Any], folder: str) -> str:
    meta = obj.get("metadata", {})
    return f"{folder}/{meta.get('namespace') or '_cluster'}/prometheusrule-{meta.get('name', 'unnamed')}.yaml"


def check_rule_objects(objects: Iterable[Mapping[str, Any]], *, folder: str = "manifests") -> list[Invalid]:
    """One Invalid per PrometheusRule that promtool rejects (its message, trimmed)."""
    rules = [o for o in objects if (o.get("apiVersion"), o.get("kind")) == RULE_KIND]
    if not rules:
        return []
    tool = promtool()
    problems: list[Invalid] = []
    with tempfile.TemporaryDirectory(prefix="tfplat-rules-") as tmp:
        paths = []
        for i, obj in enumerate(rules):
            path = Path(tmp) / f"{i}.yaml"
            path.write_text(rule_file(obj), encoding="utf-8")
            paths.append(path)
        # One promtool run checks every file; only a failure is re-checked file by file, so
        # each problem names its own PrometheusRule. (One run per file cost ~40 ms each.)
        if _check(tool, paths).returncode == 0:
            return []
        for obj, path in zip(rules, paths, strict=True):
            proc = _check(tool, [path])
            if proc.returncode != 0:
                text = (proc.stderr.strip() or proc.stdout.strip()).replace(str(path), "rules")
                problems.append(Invalid(_where(obj, folder), "spec.groups", f"promtool check rules: {text}"))
    return problems


def _check(tool: str, paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool, "check", "rules", *map(str, paths)], capture_output=True, text=True,
                          check=False, timeout=300)
