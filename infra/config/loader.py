"""The one loader: models/*.yaml + stacks/Pulumi.<stack>.yaml -> validated, typed specs.

Three passes, each collecting every issue before the next decides whether to go on:
1. parse and schema-validate every file (syntax, unknown keys, types, formats);
2. semantic checks inside each file (catalog names, batch sizes, bounds);
3. cross-checks between the stack and the models (model exists, live color has a
   version, accelerator has a pool, no TPU on AWS, ...).
A file that fails pass 1 is left out of the later passes (its data cannot be trusted), but
every other file still is checked, so one run reports all it can.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
import json
import os
from pathlib import Path
from typing import Any

from infra import bounded_yaml
from infra.config import checks, training_checks
from infra.config.edge_checks import check_edge_key_separation
from infra.config.errors import ConfigError, ConfigIssue, did_you_mean, one_of
from infra.config.hardening import check_hardening
from infra.config.replicas import check_stack_keys
from infra.config.schema import apply_defaults, load_schema, validate
from infra.config.spec import LoadedConfig, ModelSpec, model_from_dict, stack_from_config
from infra.config.yamlio import SECRET_PLACEHOLDER, YamlDoc, parse_yaml, read_yaml

#: Where tfplat's code (and with it schemas/, images/versions.yaml, policies/) was installed from.
CODE_ROOT = Path(__file__).resolve().parents[2]


def project_root(start: Path | None = None) -> Path:
    """The project whose models/ and stacks/ a command reads and edits.

    $TFPLAT_ROOT when set; else the nearest directory holding Pulumi.yaml, from `start`
    (default: the current directory) upwards, as git and pulumi find theirs. Never the
    directory the code was installed from: with two checkouts (a worktree for a pull
    request) and one venv, a command edits the checkout it runs in. Raises ConfigError
    outside a project.
    """
    env = os.environ.get("TFPLAT_ROOT")
    if env:
        root = Path(env).expanduser().resolve()
        if not root.is_dir():
            # Only a folder is required: tools that need just models/ and stacks/ (tfplat-model,
            # the benchmarks) point it at a folder without Pulumi.yaml.
            raise ConfigError([ConfigIssue(
                file=str(root), path="", value=env, message="TFPLAT_ROOT is not a folder",
                hint="point TFPLAT_ROOT at a tfplat checkout (the folder with Pulumi.yaml, models/ and stacks/), "
                     "or unset it to use the checkout you are in")])
        return root
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    raise ConfigError([ConfigIssue(
        file=str(here), path="", message="not inside a tfplat project: no Pulumi.yaml here or in any parent folder",
        hint="cd into your tfplat checkout (or a folder below it), or set TFPLAT_ROOT=<path of the checkout>")])


def other_checkout_note(root: Path) -> str | None:
    """A warning when the root is a tfplat checkout other than the one the code runs from
    (one venv shared by two checkouts): its config is used, its code changes are not."""
    if root == CODE_ROOT or not (root / "infra" / "cli").is_dir():
        return None
    return (f"tfplat's code runs from {CODE_ROOT} (where this venv installed it), while the config comes from "
            f"{root}: code, schemas/, images/versions.yaml and policies/ of {root} are not used; "
            f"run `make setup` there and use its own .venv/bin/tfplat to use them")


def stack_file(root: Path, stack: str) -> Path:
    return root / "stacks" / f"Pulumi.{stack}.yaml"


def available_stacks(root: Path) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (root / "stacks").glob("Pulumi.*.yaml"))


def _rel(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def load_models(root: Path) -> tuple[dict[str, ModelSpec], set[str], list[ConfigIssue]]:
    """All models/*.yaml -> (valid specs by name, names of files that failed, issues)."""
    specs: dict[str, ModelSpec] = {}
    docs: dict[str, YamlDoc] = {}
    broken: set[str] = set()
    issues: list[ConfigIssue] = []
    for path in sorted((root / "models").glob("*.y*ml")):
        display = _rel(root, path)
        stem = path.name.rsplit(".", 1)[0]
        if path.suffix == ".yml":
            issues.append(ConfigIssue(file=display, path="", message="model files end in .yaml",
                                      hint=f"rename it to models/{stem}.yaml"))
            broken.add(stem)
            continue
        try:
            text = bounded_yaml.read_text(path, display)
        except (bounded_yaml.YamlFileError, OSError, UnicodeDecodeError):
            text = None
        if text is None:  # read_yaml words the reason
            _, parse_issues = read_yaml(path, display)
            issues += parse_issues
            broken.add(stem)
            continue
        spec, doc, file_issues = _model_file(display, stem, text)
        if spec is None or doc is None:
            issues += file_issues
            broken.add(stem)
            continue
        specs[spec.name] = spec
        docs[spec.name] = doc
    issues += checks.check_artifact_prefixes(specs, docs)
    return specs, broken, issues


@lru_cache(maxsize=4096)
def _model_file(display: str, stem: str, text: str) -> tuple[ModelSpec | None, YamlDoc | None,
                                                                tuple[ConfigIssue, ...]]:
    """One model file's spec (None when it has issues), parsed document and issues.

    Memoized on the file's text: a plan loads the same models up to three times (the CLI's
    check, the offline plan, the program under the engine), and schema validation is most of
    a large fleet's loading time. Everything returned is read-only.
    """
    doc, parse_issues = parse_yaml(text, display)
    if doc is None:
        return None, None, tuple(parse_issues)
    file_issues = validate(doc, "model")
    if not file_issues and doc.data["name"] != stem:
        file_issues.append(ConfigIssue(
            file=display, path="name", line=doc.line_of(("name",)), value=doc.data["name"],
            message=f'does not match the file name "{stem}"',
            hint=f"set name: {stem}, or rename the file to models/{doc.data['name']}.yaml"))
    if file_issues:
        return None, doc, tuple(file_issues)
    spec = model_from_dict(apply_defaults("model", doc.data), display)
    semantic = checks.check_model(doc, spec) + training_checks.check_model_training(doc, spec)
    if semantic:
        return None, doc, tuple(semantic)
    return spec, doc, ()


#: The largest fleet one stack plans: bench/plan_bench.py measures 1,000 models (about 18,000
#: resources) in time and memory that grow linearly; docs/fleet-size.md says how to split beyond.
MAX_MODELS_PER_STACK = 1000


def fleet_size_issue(display: str, file_doc: YamlDoc | None,
                     engine_config: Mapping[str, str] | None) -> ConfigIssue | None:
    """A stack that deploys more models than one stack plans, before anything else is loaded."""
    if engine_config is not None:
        try:
            models = json.loads(engine_config.get("tfplat:models", "{}"))
        except (TypeError, ValueError):
            return None  # the schema check words it
    else:
        config = file_doc.data.get("config") if file_doc is not None and isinstance(file_doc.data, dict) else None
        models = config.get("tfplat:models") if isinstance(config, dict) else None
    if not isinstance(models, dict) or len(models) <= MAX_MODELS_PER_STACK:
        return None
    where = ("config", "tfplat:models")
    return ConfigIssue(
        file=display, path="config.tfplat:models", line=file_doc.line_of(where) if file_doc else None,
        value=f"{len(models)} models", message=f"one stack plans at most {MAX_MODELS_PER_STACK} models",
        hint="split the fleet across stacks, by team or by cluster: one stack file each, each with its own "
             "cluster and at most that many models (docs/fleet-size.md)")


def _engine_doc(display: str, file_doc: YamlDoc | None, values: Mapping[str, str]) -> YamlDoc:
    """A stack document built from config the Pulumi engine passed (decrypted values).

    The engine hands every value over as a string, objects as JSON; the schema says which
    keys are objects. Line numbers still come from the stack file when it exists.
    """
    props = load_schema("stack")["properties"]["config"]["properties"]
    config: dict[str, Any] = {}
    for key, raw in values.items():
        want = props.get(key, {})
        wants_struct = "$ref" in want or want.get("type") in ("object", "array")
        if wants_struct or not key.startswith("tfplat:"):
            try:
                config[key] = json.loads(raw)
                continue
            except (TypeError, ValueError):
                pass
        config[key] = raw
    data: dict[str, Any] = {"config": config}
    if file_doc is None:
        return YamlDoc(display, data, {}, frozenset())
    # The stack file's lines and its `secure:` paths still say where a value is written and
    # whether it is written as ciphertext (the engine has decrypted every value).
    return YamlDoc(display, data, file_doc.lines, file_doc.secret_paths)


def load(root: Path, stack: str, *, stack_text: str | None = None,
         engine_config: Mapping[str, str] | None = None,
         engine_secret_keys: frozenset[str] = frozenset()) -> LoadedConfig:
    """Load and check everything one stack needs; raise ConfigError with all issues.

    engine_config: config as the Pulumi engine passed it (the `pulumi up` path).
    stack_text: the stack file's would-be contents (runbook commands check an edit
    before writing it). Neither: read stacks/Pulumi.<stack>.yaml.
    """
    path = stack_file(root, stack)
    display = _rel(root, path)
    if engine_config is None and stack_text is None and not path.exists():
        _, _, issues = load_models(root)
        known = available_stacks(root)
        issues.append(ConfigIssue(file=display, path="", value=stack,
                                  message=f'no stack named "{stack}"',
                                  hint=f"use one of: {one_of(known)}{did_you_mean(stack, known)}"))
        raise ConfigError(issues)

    if stack_text is not None:
        file_doc, parse_issues = parse_yaml(stack_text, display)
    elif path.exists():
        file_doc, parse_issues = read_yaml(path, display)
    else:
        file_doc, parse_issues = None, []
    oversized = fleet_size_issue(display, file_doc, engine_config)
    if oversized is not None:  # said before thousands of model files are read
        raise ConfigError([oversized])
    models, broken_models, issues = load_models(root)
    if engine_config is not None:
        doc: YamlDoc | None = _engine_doc(display, file_doc, engine_config)
        secrets = engine_secret_keys
    else:
        doc, secrets = file_doc, frozenset()
        issues += parse_issues
        if doc is not None:
            secrets = doc.secret_config_keys()
    if doc is None:
        raise ConfigError(issues)

    stack_issues = validate(doc, "stack")
    if stack_issues:
        raise ConfigError(issues + stack_issues)

    renamed, notices = check_stack_keys(doc)
    filled = apply_defaults("stack", doc.data)
    spec = stack_from_config(stack, display, filled["config"], secrets)
    stack_issues = renamed + checks.check_stack(doc, spec)
    pools_ok = not any(i.path.startswith("config.tfplat:node_pools") for i in stack_issues)
    issues += stack_issues
    issues += checks.check_rollouts(doc, spec, models, broken_models, pools_ok=pools_ok)
    issues += checks.check_observability_and_edge(doc, spec, models, broken_models)
    issues += check_edge_key_separation(doc, spec, root / "stacks")
    issues += training_checks.check_stack_training(doc, spec, models, broken_models)
    # The images a stack runs follow from its models' accelerators: judged only when all load.
    kinds = [models[m].serving.accelerator.kind for m in spec.models] if set(spec.models) <= set(models) else None
    issues += check_hardening(doc, spec, kinds)
    if not issues:  # sizes are only worth comparing once pools and models are right
        issues += checks.check_capacity(doc, spec, models)
    if issues:
        raise ConfigError(issues)
    return LoadedConfig(stack=spec, models=models, notices=tuple(n.render() for n in notices))


__all__ = [
    "SECRET_PLACEHOLDER",
    "LoadedConfig",
    "available_stacks",
    "load",
    "load_models",
    "project_root",
    "stack_file",
]
