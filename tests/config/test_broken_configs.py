"""Every broken config of the corpus gives exit 2 and a message naming file, field, value, fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.cli.main import main
from tests.config.corpus import apply_case, load_cases

CASES = load_cases()


@pytest.mark.parametrize(("name", "case"), CASES, ids=[c[0] for c in CASES])
def test_broken_config_is_reported_clearly(name: str, case: dict[str, Any], repo_copy: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    apply_case(repo_copy, case)
    before = {p: p.read_bytes() for p in repo_copy.rglob("*") if p.is_file()}

    code = main(["validate", "--stack", case["stack"]])

    out = capsys.readouterr()
    text = out.err
    assert code == 2, f"{name}: expected exit 2, got {code}\n{out.out}{text}"
    for fragment in case["expect"]:
        assert fragment in text, f"{name}: missing {fragment!r} in:\n{text}"
    for fragment in case.get("forbid", []):
        assert fragment not in text + out.out, f"{name}: leaked {fragment!r}"
    assert "Traceback" not in text
    assert text.rstrip().endswith("nothing was changed")
    assert {p: p.read_bytes() for p in repo_copy.rglob("*") if p.is_file()} == before


def test_corpus_covers_the_issue_list() -> None:
    names = {n for n, _ in CASES}
    for required in ("unknown-key-model", "unknown-key-stack", "wrong-type-batch", "live-color-without-version",
                     "stack-names-missing-model", "tpu-model-on-aws", "yaml-syntax-error", "empty-model-file"):
        assert required in names


def test_every_fix_line_follows_its_error(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    apply_case(repo_copy, dict(CASES)["several-errors-at-once"])
    assert main(["validate", "--stack", "prod"]) == 2
    lines = capsys.readouterr().err.splitlines()[1:-1]
    assert len(lines) == 6
    for error, fix in zip(lines[::2], lines[1::2], strict=True):
        assert ": " in error and fix.startswith("    fix: ")
