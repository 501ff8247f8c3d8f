"""The layers import only downwards: rules <- config <- plan <- components <- program <- offline <- cli
(and every layer may use the file helpers below them all: infra.atomic, infra.bounded_yaml, infra.jsontext).

Every import statement of every module counts (module level, inside functions, under
TYPE_CHECKING), so a lazy import cannot sneak an arrow back up. A new module must be
placed in a layer here before this test passes.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Bottom to top; a layer may import itself and every layer before it.
ORDER = ("base", "rules", "config", "plan", "components", "program", "offline", "cli")
# Module prefix -> layer (the longest matching prefix wins).
LAYER_OF = {
    # Reading and writing files safely (bounded YAML, atomic writes): every layer may.
    "infra.atomic": "base",
    "infra.bounded_yaml": "base",
    "infra.jsontext": "base",
    "infra.rules": "rules",
    "infra.config": "config",
    "infra.plan": "plan",
    "infra.components": "components",
    "infra.program": "program",
    "infra.__main__": "program",
    "infra.offline": "offline",
    # The real engines (helm, CRD schemas and CEL, checkov) the offline plan hands objects to.
    "infra.engines": "offline",
    "infra.cli": "cli",
    "infra.images_pin": "cli",  # `tfplat images pin`
    "infra.preflight": "cli",  # the runbook commands' cloud checks
    "infra.release": "cli",  # `tfplat release`: its pure decisions (decide.py) import only plan and rules
    # Beside the infra stack: the policy pack checks plans against config rules (the
    # offline plan runs it); the TensorFlow tooling reads config and plan, never Pulumi.
    "policies": "policies",
    "modelkit": "modelkit",
}
BELOW = {layer: set(ORDER[: i + 1]) for i, layer in enumerate(ORDER)}
BELOW["policies"] = {"base", "rules", "config", "policies"}
BELOW["modelkit"] = {"base", "rules", "config", "plan", "modelkit"}
BELOW["offline"] |= {"policies"}
BELOW["cli"] |= {"policies"}
# Layers that must run without the Pulumi SDK: the planner decides, components register.
NO_PULUMI = {"base", "rules", "config", "plan", "policies", "modelkit"}
# What the planner may take from config: the typed specs, never the loader or the YAML.
PLAN_FROM_CONFIG = {"infra.config.spec", "infra.config.release_spec"}


def layer_of(module: str) -> str | None:
    matches = [p for p in LAYER_OF if module == p or module.startswith(p + ".")]
    return LAYER_OF[max(matches, key=len)] if matches else None


def _module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module) for every import in the file, wherever it sits."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from infra.plan import charts` imports the submodule infra.plan.charts
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}" if alias.name != "*" else base


def _sources() -> list[Path]:
    return sorted(p for top in ("infra", "policies", "modelkit") for p in (REPO / top).rglob("*.py")
                  if "node_modules" not in p.parts)


def test_every_module_has_a_layer() -> None:
    unplaced = [str(p.relative_to(REPO)) for p in _sources()
                if _module_name(p) not in ("infra",) and layer_of(_module_name(p)) is None]
    assert not unplaced, f"place these modules in a layer in {Path(__file__).name}: {unplaced}"


def _problems(path: Path, root: Path = REPO) -> list[str]:
    module = _module_name(path, root)
    layer = layer_of(module)
    if layer is None:
        return []
    where = path.relative_to(root)
    out = []
    for line, target in _imports(path, root):
        top = target.split(".")[0]
        if layer in NO_PULUMI and top.startswith("pulumi") and not (layer == "policies" and top == "pulumi_policy"):
            out.append(f"{where}:{line} imports {target}: the {layer} layer runs without Pulumi")
        target_layer = layer_of(target)
        if target_layer is None:
            continue  # the standard library or a third-party package
        if target_layer not in BELOW[layer]:
            allowed = ", ".join(sorted(BELOW[layer]))
            out.append(f"{where}:{line} imports {target} ({target_layer}): {layer} may import only {allowed}")
        if layer == "plan" and target_layer == "config" and \
                not any(target == m or target.startswith(m + ".") for m in PLAN_FROM_CONFIG):
            out.append(f"{where}:{line} imports {target}: the planner takes typed specs "
                       f"({', '.join(sorted(PLAN_FROM_CONFIG))}), it never loads config")
    return out


@pytest.mark.parametrize("top", ["infra", "policies", "modelkit"])
def test_imports_point_down_the_layers(top: str) -> None:
    problems = [p for path in _sources() if path.relative_to(REPO).parts[0] == top for p in _problems(path)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("module", "source", "fragment"), [
    ("infra.config.checks", "from infra.plan.fleet import matching_pools\n",
     "config may import only base, config, rules"),
    ("infra.plan.stack", "def f():\n    from infra.config.loader import load\n", "never loads config"),
    ("infra.plan.fleet", "import pulumi\n", "runs without Pulumi"),
    ("infra.rules.names", "from ..plan import cloud\n", "rules may import only base, rules"),
    ("infra.components.platform", "from infra.offline import engine\n", "components may import only"),
])
def test_an_arrow_back_up_is_reported(tmp_path: Path, module: str, source: str, fragment: str) -> None:
    # The checker itself, on a module that breaks a rule (so the test above can fail).
    path = tmp_path.joinpath(*module.split(".")).with_suffix(".py")
    path.parent.mkdir(parents=True)
    path.write_text(source, encoding="utf-8")
    problems = _problems(path, tmp_path)
    assert any(fragment in p for p in problems), problems
