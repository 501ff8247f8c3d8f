"""The last committed state of a stack file: what the rollout guards compare a change with.

The deploy pipeline applies what is merged, so the stack file at HEAD is the last state that
was (or is being) reviewed and applied; an uncommitted change to it is one pull request.
Outside a git checkout, or for a stack file git does not track yet, there is no such state:
the guards cannot tell whether the file already holds an unapplied step, and say so
(`Committed.note`) instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import subprocess
from typing import Any

from infra.config.yamlio import YamlDoc, parse_yaml
from infra.plan.guards import StepLimits
from infra.rules.rollout import Rollout


@dataclass(frozen=True)
class Committed:
    text: str | None  # the file at HEAD; None when there is none
    note: str | None  # why there is none

    def rollout(self, model: str) -> Rollout | None:
        """The model's rollout at HEAD (None: not there, or the file did not parse)."""
        return rollout_of(models_of(self.text).get(model)) if self.text is not None else None


def rollout_of(entry: Any) -> Rollout | None:
    """A stack file's raw model entry as a Rollout, or None if it is not a well-formed one
    (read without the loader, for views that must work while other files are broken)."""
    if not isinstance(entry, dict) or entry.get("live") not in ("blue", "green"):
        return None
    versions = [entry.get(c) for c in ("blue", "green")]
    if not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in versions):
        return None
    canary = entry.get("canary_percent", 0)
    return Rollout(blue=versions[0], green=versions[1], live=entry["live"],
                   canary_percent=canary if isinstance(canary, int) and not isinstance(canary, bool) else 0)


def models_of(text: str) -> dict[str, Any]:
    """The raw tfplat:models mapping of a stack file's text ({} if there is none)."""
    doc, _ = parse_yaml(text, "(HEAD)")
    return models_of_doc(doc) if doc is not None else {}


def models_of_doc(doc: YamlDoc) -> dict[str, Any]:
    """The raw tfplat:models mapping of a parsed stack file ({} if there is none)."""
    config = doc.data.get("config")
    models = config.get("tfplat:models") if isinstance(config, dict) else None
    return models if isinstance(models, dict) else {}


def committed(path: Path, rev: str = "HEAD") -> Committed:
    """The file at `rev` of the git repository holding it."""
    try:
        proc = subprocess.run(["git", "-C", str(path.parent), "show", f"{rev}:./{path.name}"],
                              capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return Committed(None, f"git is not usable here ({err})")
    if proc.returncode == 0:
        return Committed(proc.stdout.replace("\r\n", "\n"), None)
    stderr = proc.stderr.strip()
    if "not a git repository" in stderr:
        return Committed(None, f"{path.parent} is not in a git checkout")
    last = stderr.splitlines()[-1] if stderr else "git show failed"
    return Committed(None, f"{path.name} is not committed yet ({last})")


def step_limits(text: str | None) -> StepLimits:
    """The step limits a stack file sets (tier default when it sets none or does not parse)."""
    doc, _ = parse_yaml(text, "(stack)") if text else (None, [])
    config = doc.data.get("config") if doc is not None else None
    config = config if isinstance(config, dict) else {}
    settings = config.get("tfplat:rollout")
    configured = settings.get("max_canary_step_percent") if isinstance(settings, dict) else None
    return StepLimits.for_stack(str(config.get("tfplat:environment", "prod")),
                                configured if isinstance(configured, int) else None)
