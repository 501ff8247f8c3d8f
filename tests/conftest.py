"""Shared fixtures: a disposable copy of the repository's config for each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
import shutil

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIRS = ("models", "stacks")
STACKS = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (REPO / "stacks").glob("Pulumi.*.yaml"))


def copy_config(dest: Path) -> Path:
    """models/, stacks/ and Pulumi.yaml copied to `dest` (code and schemas stay shared)."""
    for name in CONFIG_DIRS:
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("samples"))
    shutil.copy(REPO / "Pulumi.yaml", dest / "Pulumi.yaml")
    return dest


@pytest.fixture
def repo_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A writable copy of the config; TFPLAT_ROOT points the loader and CLI at it."""
    root = copy_config(tmp_path / "repo")
    monkeypatch.setenv("TFPLAT_ROOT", str(root))
    yield root
