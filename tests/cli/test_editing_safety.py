"""Rollout commands change exactly the model they name: aliases, merge keys, line endings,
indentation, and the checkout the command runs in (issue 13, "Editing the wrong thing")."""

from __future__ import annotations

from pathlib import Path
import re

import pytest

from infra.cli.main import main
from infra.config.loader import load
from infra.config.yamlio import parse_yaml
from tests.conftest import copy_config

MODELS_BLOCK = re.compile(r"  tfplat:models:\n(?:    .*\n|      .*\n)+", re.M)


def _stack(root: Path, name: str = "dev") -> Path:
    return root / "stacks" / f"Pulumi.{name}.yaml"


def _with_models(root: Path, block: str, name: str = "dev") -> Path:
    """Replace the stack's tfplat:models block with `block` (indented under it)."""
    path = _stack(root, name)
    text = path.read_text(encoding="utf-8")
    path.write_text(MODELS_BLOCK.sub(lambda _m: "  tfplat:models:\n" + block, text, count=1), encoding="utf-8")
    return path


def _snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _models(path: Path) -> dict[str, object]:
    doc, issues = parse_yaml(path.read_text(encoding="utf-8").replace("\r\n", "\n"), "x")
    assert doc is not None, issues
    models: dict[str, object] = doc.data["config"]["tfplat:models"]
    return models


SHARED = """\
    mobilenet: &one_color
      blue: 4
      live: blue
    resnet50:
      blue: 7
      green: 8
      live: green
"""
ALIASED = "    # bert-ranker runs the same versions as mobilenet\n" + SHARED + "    bert-ranker: *one_color\n"


def test_stage_through_an_alias_unshares_that_entry_only(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _with_models(repo_copy, ALIASED)
    before = path.read_text(encoding="utf-8")
    assert main(["stage", "bert-ranker", "2", "--stack", "dev", "--skip-preflight"]) == 0
    captured = capsys.readouterr()
    assert "bert-ranker: its entry was an alias of &one_color" in captured.err
    assert "this edit changes it alone" in captured.err
    after = _models(path)
    assert after["mobilenet"] == {"blue": 4, "live": "blue"}  # not staged along
    assert after["bert-ranker"] == {"blue": 4, "green": 2, "live": "blue"}
    # The anchor and its comment stay where they were; only bert-ranker's lines changed.
    text = path.read_text(encoding="utf-8")
    assert "    # bert-ranker runs the same versions as mobilenet\n    mobilenet: &one_color\n" in text
    assert text.split("    bert-ranker:")[0] == before.split("    bert-ranker:")[0]


def test_editing_the_anchor_other_entries_use_is_refused(repo_copy: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    _with_models(repo_copy, ALIASED)
    before = _snapshot(repo_copy)
    assert main(["stage", "mobilenet", "5", "--stack", "dev", "--skip-preflight"]) == 2
    err = capsys.readouterr().err
    assert "stacks/Pulumi.dev.yaml:45: config.tfplat:models.mobilenet: this entry is the YAML anchor &one_color, " \
           "which bert-ranker also use(s); editing it would change them too" in err
    assert "fix: give bert-ranker their own values (replace *one_color or <<: *one_color" in err
    assert "nothing was changed" in err and "Traceback" not in err
    assert _snapshot(repo_copy) == before


MERGED = SHARED + "    bert-ranker: {<<: *one_color, blue: 2}\n"


def test_merge_keys_are_read_and_validated(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _with_models(repo_copy, MERGED)
    assert main(["validate", "--stack", "dev"]) == 0
    r = load(repo_copy, "dev").stack.models["bert-ranker"]
    assert (r.blue, r.green, r.live) == (2, None, "blue")
    assert main(["status", "--stack", "dev"]) == 0
    assert ["dev", "bert-ranker", "v2", "-", "blue", "-", "blue", "100%"] in \
        [line.split() for line in capsys.readouterr().out.splitlines()]


def test_a_mistake_behind_a_merge_key_points_at_the_anchor(repo_copy: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    _with_models(repo_copy, MERGED.replace("      live: blue\n", "      live: purple\n", 1))
    assert main(["validate", "--stack", "dev"]) == 2
    err = capsys.readouterr().err
    # The value comes from the anchored mapping: the error points at the line it is written on.
    assert 'stacks/Pulumi.dev.yaml:46: config.tfplat:models.bert-ranker.live: not an allowed value (got "purple")\n' \
           "    fix: use one of: blue, green" in err
    assert 'stacks/Pulumi.dev.yaml:46: config.tfplat:models.mobilenet.live: not an allowed value (got "purple")' in err
    assert "Traceback" not in err


def test_stage_through_a_merge_key_changes_that_model_only(repo_copy: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = _with_models(repo_copy, MERGED)
    assert main(["switch", "bert-ranker", "--stack", "dev"]) == 2  # nothing staged yet: refused
    capsys.readouterr()
    assert main(["stage", "bert-ranker", "3", "--stack", "dev", "--skip-preflight"]) == 0
    assert "took values from a merge key" in capsys.readouterr().err
    after = _models(path)
    assert after["mobilenet"] == {"blue": 4, "live": "blue"}
    assert after["bert-ranker"] == {"blue": 2, "live": "blue", "green": 3}


def test_crlf_and_four_space_indentation_survive_an_edit(repo_copy: Path) -> None:
    path = _stack(repo_copy)
    lines = path.read_text(encoding="utf-8").splitlines()
    # Four-space indentation, CRLF line endings, as some editors on Windows write them.
    four = [(len(line) - len(line.lstrip(" "))) * 2 * " " + line.lstrip(" ") for line in lines]
    path.write_bytes(("\r\n".join(four) + "\r\n").encode("utf-8"))
    original = path.read_bytes()
    assert main(["stage", "mobilenet", "5", "--stack", "dev", "--skip-preflight"]) == 0
    edited = path.read_bytes()
    assert edited.count(b"\r\n") == edited.count(b"\n")  # every line still ends in CRLF
    old, new = original.split(b"\r\n"), edited.split(b"\r\n")
    added = [line for line in new if line not in old]
    assert added == [b"            green: 5"]  # 12 spaces: the file's own indentation
    assert [line for line in old if line not in new] == []


def test_commands_use_the_checkout_they_run_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Two checkouts and one venv: the command edits the one around the current directory,
    from any folder below it, and prints the absolute path it wrote."""
    monkeypatch.delenv("TFPLAT_ROOT", raising=False)
    first, second = copy_config(tmp_path / "first"), copy_config(tmp_path / "second")
    untouched = _snapshot(first)
    monkeypatch.chdir(second / "models")
    assert main(["canary", "resnet50", "10", "--stack", "dev"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {second / 'stacks' / 'Pulumi.dev.yaml'}\n" in out
    assert load(second, "dev").stack.models["resnet50"].canary_percent == 10
    assert _snapshot(first) == untouched


def test_tfplat_root_overrides_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = copy_config(tmp_path / "first"), copy_config(tmp_path / "second")
    untouched = _snapshot(second)
    monkeypatch.chdir(second)
    monkeypatch.setenv("TFPLAT_ROOT", str(first))
    assert main(["canary", "resnet50", "10", "--stack", "dev"]) == 0
    assert load(first, "dev").stack.models["resnet50"].canary_percent == 10
    assert _snapshot(second) == untouched


def test_outside_a_project_the_error_says_where_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("TFPLAT_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path.resolve()}: (whole file): not inside a tfplat project: no Pulumi.yaml here or in any " \
           "parent folder" in err
    assert "fix: cd into your tfplat checkout (or a folder below it), or set TFPLAT_ROOT=" in err
    monkeypatch.setenv("TFPLAT_ROOT", str(tmp_path / "nowhere"))
    assert main(["status"]) == 2
    assert "TFPLAT_ROOT is not a folder" in capsys.readouterr().err
