"""Hostile YAML is refused clearly, in bounded time and memory (issue 12, "Hostile YAML").

Each case runs the real CLI in a child process with an address-space limit (a document that
expanded its aliases would die of MemoryError, not pass) and a timeout (one that hung would
time out); bench/yaml_bench.py measures how fast and how small the refusals are.
"""

from __future__ import annotations

from pathlib import Path
import resource
import subprocess
import sys

import pytest

from infra import bounded_yaml
from infra.rules.images import read_versions
from tests.conftest import REPO

MEMORY_LIMIT = 2 * 2**30  # address space of the child: a few times what validate needs


def deep(prefix: str = "x: ") -> str:
    return prefix + "[" * 5000 + "]" * 5000 + "\n"


def deep_block(key: str = "x") -> str:
    return f"{key}:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(40)) + "  " * 41 + "v\n"


def laughs(key: str = "x") -> str:
    """Ten levels of ten aliases each: 10^10 nodes once expanded, 600 bytes written."""
    lines = ["lol0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"lol{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    return f"{key}:\n" + "".join(f"  {line}\n" for line in lines)


def huge(key: str = "x") -> str:
    return f"{key}: " + "a" * (bounded_yaml.MAX_BYTES + 10) + "\n"


DEPTH = f"mappings and lists are nested more than {bounded_yaml.MAX_DEPTH} levels deep"
ALIASES = f"aliases expand to more than {bounded_yaml.MAX_NODES:,} nodes"
CASES = {
    "depth": (deep(), f"{DEPTH} (the limit for a tfplat config file)", "flatten the structure"),
    "depth-block": (deep_block(), DEPTH, "flatten the structure"),
    "aliases": (laughs(), f"{ALIASES} (the limit for a tfplat config file)",
                "write the values out, or use fewer aliases of aliases"),
    "size": (huge(), f"the file is larger than {bounded_yaml.MAX_BYTES // 1024} KiB (the limit for a tfplat config "
             "file)", "check that it is the file you meant"),
}


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _tfplat(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "infra.cli", *args], cwd=root, capture_output=True, text=True,
                          timeout=120, preexec_fn=_limit_memory, check=False,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(root)})


def _snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_model_file(case: str, repo_copy: Path) -> None:
    text, message, fix = CASES[case]
    (repo_copy / "models" / "evil.yaml").write_text(text)
    before = _snapshot(repo_copy)
    proc = _tfplat(repo_copy, "validate", "--stack", "dev")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "models/evil.yaml" in proc.stderr and message in proc.stderr and f"fix: {fix}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _snapshot(repo_copy) == before


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_stack_file(case: str, repo_copy: Path) -> None:
    text, message, fix = CASES[case]
    path = repo_copy / "stacks" / "Pulumi.dev.yaml"
    path.write_text(path.read_text() + text.replace("x:", "  tfplat:evil:", 1).replace("\n  ", "\n    ")
                    if case != "size" else text)
    before = _snapshot(repo_copy)
    for argv in (["validate", "--stack", "dev"], ["stage", "mobilenet", "5", "--stack", "dev", "--skip-preflight"],
                 ["status"]):
        proc = _tfplat(repo_copy, *argv)
        assert proc.returncode in (1, 2), proc.stderr[-2000:]  # status shows the other stacks, then exits 1
        assert "stacks/Pulumi.dev.yaml" in proc.stderr and message in proc.stderr, proc.stderr[-2000:]
        assert f"fix: {fix}" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert _snapshot(repo_copy) == before


def test_the_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(bounded_yaml.YamlFileError) as err:
        bounded_yaml.load("a: 1\nb: 2\n" + laughs("c"), "f.yaml")
    assert err.value.file == "f.yaml" and err.value.line is not None and err.value.line > 3
    with pytest.raises(bounded_yaml.YamlFileError) as err:
        bounded_yaml.load("ok: 1\n" + deep("bad: "), "f.yaml")
    assert err.value.line == 2


def test_hostile_project_file_stops_the_plan(repo_copy: Path) -> None:
    (repo_copy / "Pulumi.yaml").write_text(laughs("name"))
    proc = _tfplat(repo_copy, "plan", "--stack", "dev", "--out", str(repo_copy / "out"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Pulumi.yaml" in proc.stderr and ALIASES in proc.stderr
    assert not (repo_copy / "out").exists()


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_versions_file(case: str, tmp_path: Path) -> None:
    path = tmp_path / "versions.yaml"
    path.write_text(CASES[case][0])
    with pytest.raises(bounded_yaml.YamlFileError) as err:
        read_versions(path)
    assert CASES[case][1] in err.value.render()


def test_reasonable_anchors_aliases_and_merge_keys_keep_working(tmp_path: Path) -> None:
    # Anchors live under x- keys, which schemas/versions.schema.json leaves free.
    real = (REPO / "images" / "versions.yaml").read_text(encoding="utf-8").replace("images:\n", "x-old-images:\n", 1)
    text = (real + "x-base: &base {repository: docker.io/x, tag: '1', digest: null}\n"
            "images:\n" + "".join(f"  i{i}: {{<<: *base, tag: '{i}'}}\n" for i in range(200))
            + "x-copies: [" + ", ".join(["*base"] * 500) + "]\n")
    path = tmp_path / "versions.yaml"
    path.write_text(text)
    data = read_versions(path)
    assert data["images"]["i7"] == {"repository": "docker.io/x", "tag": "7", "digest": None}
    assert len(data["x-copies"]) == 500


def test_policy_config_is_read_with_the_same_bounds(tmp_path: Path) -> None:
    from policies.tfplat_policies.enforcement import TierConfigError, load_tier

    (tmp_path / "prod.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(TierConfigError, match="larger than 128 KiB"):
        load_tier("prod", tmp_path)
    (tmp_path / "prod.json").write_text("[" * 20_000 + "]" * 20_000)
    with pytest.raises(TierConfigError, match="nested too deeply to be a policy config"):
        load_tier("prod", tmp_path)


def test_the_policy_config_bound_is_the_yaml_bound() -> None:
    from policies.tfplat_policies.enforcement import MAX_CONFIG_BYTES

    assert MAX_CONFIG_BYTES == bounded_yaml.MAX_BYTES
