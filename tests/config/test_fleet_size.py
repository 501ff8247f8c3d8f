"""A fleet too large for one stack is refused first, with the way to split it (docs/fleet-size.md)."""

from __future__ import annotations

import json
from pathlib import Path
import time

import pytest

from infra.cli.main import main
from infra.config.errors import ConfigError
from infra.config.loader import MAX_MODELS_PER_STACK, load


def _oversized(root: Path, models: int) -> Path:
    path = root / "stacks" / "Pulumi.dev.yaml"
    entries = "".join(f"    m{i:05d}: {{blue: 1, live: blue}}\n" for i in range(models))
    path.write_text(path.read_text(encoding="utf-8").replace("  tfplat:models:\n", "  tfplat:models:\n" + entries, 1),
                    encoding="utf-8")
    (root / "models" / "broken.yaml").write_text("name: [", encoding="utf-8")  # read only if models are loaded
    return path


def test_a_stack_of_more_models_than_one_stack_plans_is_refused_before_loading_them(
        repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _oversized(repo_copy, MAX_MODELS_PER_STACK + 1)
    before = path.read_bytes()
    start = time.perf_counter()
    assert main(["validate", "--stack", "dev"]) == 2
    assert time.perf_counter() - start < 10
    err = capsys.readouterr().err
    assert "1 configuration error:\nstacks/Pulumi.dev.yaml:" in err
    assert f"config.tfplat:models: one stack plans at most {MAX_MODELS_PER_STACK} models (got " in err
    assert "fix: split the fleet across stacks, by team or by cluster" in err and "docs/fleet-size.md" in err
    assert "broken.yaml" not in err and "Traceback" not in err and path.read_bytes() == before


def test_the_engine_path_refuses_it_too(repo_copy: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(repo_copy, "dev", engine_config={"tfplat:models": json.dumps(
            {f"m{i}": {"live": "blue"} for i in range(MAX_MODELS_PER_STACK + 1)})})
    assert [i.path for i in err.value.issues] == ["config.tfplat:models"]


def test_a_stack_at_the_bound_is_not_refused_for_its_size(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _oversized(repo_copy, MAX_MODELS_PER_STACK - 3)  # dev has 3 models of its own
    assert main(["validate", "--stack", "dev"]) == 2  # the made-up models have no files, and broken.yaml
    err = capsys.readouterr().err
    assert "one stack plans at most" not in err and "no model file models/m00000.yaml" in err
