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
    return RuleCheck(objects, folder=folder).problems()


class RuleCheck:
    """check_rule_objects, started: promtool runs (on another core) from here on, while the
    caller goes on (the offline plan validates and writes build/ meanwhile); problems()
    waits for it. A thousand models' rules keep promtool busy for about 2 s."""

    def __init__(self, objects: Iterable[Mapping[str, Any]], *, folder: str = "manifests") -> None:
        self._rules = [o for o in objects if (o.get("apiVersion"), o.get("kind")) == RULE_KIND]
        self._folder = folder
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[str] | None = None
        if not self._rules:
            return
        tool = promtool()
        self._tmp = tempfile.TemporaryDirectory(prefix="tfplat-rules-")
        self._paths = []
        for i, obj in enumerate(self._rules):
            path = Path(self._tmp.name) / f"{i}.yaml"
            path.write_text(rule_file(obj), encoding="utf-8")
            self._paths.append(path)
        self._tool = tool
        # One promtool run checks every file; only a failure is re-checked file by file, so
        # each problem names its own PrometheusRule. (One run per file cost ~40 ms each.)
        self._proc = subprocess.Popen([tool, "check", "rules", *map(str, self._paths)], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)

    def problems(self) -> list[Invalid]:
        if self._proc is None or self._tmp is None:
            return []
        try:
            self._proc.communicate(timeout=300)
            if self._proc.returncode == 0:
                return []
            problems: list[Invalid] = []
            for obj, path in zip(self._rules, self._paths, strict=True):
                proc = _check(self._tool, [path])
                if proc.returncode != 0:
                    text = (proc.stderr.strip() or proc.stdout.strip()).replace(str(path), "rules")
                    problems.append(Invalid(_where(obj, self._folder), "spec.groups", f"promtool check rules: {text}"))
            return problems
        finally:
            self.close()

    def close(self) -> None:
        """Stop promtool if it still runs and remove its files (the plan failed before it waited)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.communicate()
        if self._tmp is not None:
            self._tmp.cleanup()


def _check(tool: str, paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool, "check", "rules", *map(str, paths)], capture_output=True, text=True,
                          check=False, timeout=300)
