"""A model's replica bounds in a stack: `autoscaling: {min_replicas, max_replicas}` over the
model file's `serving.autoscaling` (one vocabulary), and the old `replicas: {min, max}`
still read with a warning until tfplat 0.3 (docs/upgrading.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.cli.main import main
from infra.config.loader import load

NEW = "autoscaling: {min_replicas: 2, max_replicas: 10}"  # resnet50 in stacks/Pulumi.prod.yaml


def _edit(root: Path, old: str, new: str) -> Path:
    path = root / "stacks" / "Pulumi.prod.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not written once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_the_stack_overrides_the_model_key_by_key(repo_copy: Path) -> None:
    _edit(repo_copy, NEW, "autoscaling: {max_replicas: 9}")
    rollout = load(repo_copy, "prod").stack.models["resnet50"]
    assert (rollout.min_replicas, rollout.max_replicas) == (None, 9)  # min: the model file's


def test_the_old_spelling_still_plans_the_same_and_says_what_to_write(
        repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = load(repo_copy, "prod").stack.models["resnet50"]
    _edit(repo_copy, NEW, "replicas: {min: 2, max: 10}")
    loaded = load(repo_copy, "prod")
    assert loaded.stack.models["resnet50"] == new
    assert main(["validate", "--stack", "prod"]) == 0
    err = capsys.readouterr().err
    assert "warning: stacks/Pulumi.prod.yaml:50: config.tfplat:models.resnet50.replicas: deprecated: replicas is " \
           "read until tfplat 0.3 (docs/upgrading.md) (got {\"max\": 10, \"min\": 2})\n" \
           "    fix: replace it with `autoscaling: {min_replicas: 2, max_replicas: 10}`" in err


def test_both_spellings_at_once_are_refused(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _edit(repo_copy, NEW, NEW + "\n      replicas: {min: 3}")
    before = path.read_bytes()
    assert main(["validate", "--stack", "prod"]) == 2
    err = capsys.readouterr().err
    assert "stacks/Pulumi.prod.yaml:51: config.tfplat:models.resnet50.replicas: the deprecated replicas and its " \
           "replacement autoscaling are both set (got {\"min\": 3})\n    fix: remove replicas and keep autoscaling " \
           "only (replicas.min is autoscaling.min_replicas, replicas.max is autoscaling.max_replicas)" in err
    assert "Traceback" not in err and path.read_bytes() == before


def test_a_minimum_above_the_model_s_maximum_is_refused(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(repo_copy, NEW, "autoscaling: {min_replicas: 9}")  # models/resnet50.yaml: max_replicas 8
    assert main(["validate", "--stack", "prod"]) == 2
    err = capsys.readouterr().err
    assert "stacks/Pulumi.prod.yaml:50: config.tfplat:models.resnet50.autoscaling.min_replicas: the minimum " \
           "replicas (9) are above the maximum (8, the model's serving.autoscaling.max_replicas " \
           "(models/resnet50.yaml)) (got 9)\n    fix: make autoscaling.min_replicas <= autoscaling.max_replicas" in err
