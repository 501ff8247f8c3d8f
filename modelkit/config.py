"""The model and stack config, read through the project's one loader (infra.config).

infra.config is pure Python (no pulumi import), so the TensorFlow tooling and the Pulumi
program read the very same validated, default-filled specs.
"""

from __future__ import annotations

from pathlib import Path

from infra.config.errors import ConfigError, did_you_mean, one_of
from infra.config.loader import load, load_models, project_root
from infra.config.spec import ModelSpec, StackSpec
from modelkit.errors import UserError

__all__ = ["load_model", "load_stack", "project_root", "resolve_path"]


def load_model(name: str, root: Path | None = None) -> ModelSpec:
    """models/<name>.yaml, validated. Raises ConfigError (its issues) or UserError (unknown name)."""
    root = root or project_root()
    specs, broken, issues = load_models(root)
    if name in specs:
        return specs[name]
    if name in broken:
        raise ConfigError([i for i in issues if i.file.endswith(f"{name}.yaml")] or issues)
    known = sorted(specs)
    raise UserError.one(file=f"models/{name}.yaml", field="", value=name, message="no such model",
                        fix=f"use one of: {one_of(known)}{did_you_mean(name, known)}")


def load_stack(stack: str, root: Path | None = None) -> StackSpec:
    """A stack, validated with everything else (tfplat:edge, its environment, its file's path)."""
    return load(root or project_root(), stack).stack


def resolve_path(location: str, root: Path | None = None) -> Path:
    """A local path from config: relative paths are relative to the repository root."""
    path = Path(location)
    return path if path.is_absolute() else (root or project_root()) / path
