"""The JSON Schemas themselves (valid, defaults valid) and the secret markers they carry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
import pytest

from infra.config.errors import ConfigError
from infra.config.loader import load
from infra.config.schema import load_schema, resolve_ref
from infra.offline.plan import engine_config

SCHEMAS = ("model", "stack")


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    Draft202012Validator.check_schema(load_schema(name))


def _defaults(root: dict[str, Any], schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any], Any]]:
    schema = resolve_ref(root, schema)
    found = [(path, schema, schema["default"])] if "default" in schema else []
    for key, sub in schema.get("properties", {}).items():
        found += _defaults(root, sub, f"{path}.{key}")
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        found += _defaults(root, extra, f"{path}.*")
    return found


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_default_satisfies_its_own_schema(name: str) -> None:
    root = load_schema(name)
    defaults = _defaults(root, root)
    assert len(defaults) > 20
    for path, schema, value in defaults:
        sub = {k: v for k, v in schema.items() if k != "default"}
        errors = list(Draft202012Validator({**sub, "$defs": root["$defs"]}).iter_errors(value))
        assert not errors, f"{name}{path}: default {value!r}: {errors[0].message}"


def test_the_engine_path_refuses_a_plaintext_secret_written_in_the_stack_file(tmp_path: Path) -> None:
    """Under `pulumi up` every value arrives decrypted and the whole key marked secret; the
    stack file still says which values were written as ciphertext."""
    from tests.conftest import copy_config

    root = copy_config(tmp_path)
    path = root / "stacks" / "Pulumi.prod.yaml"
    path.write_text(path.read_text().replace("    prometheus:\n", "    grafana: {admin_password: hunter2}\n"
                                             "    prometheus:\n", 1))
    values, secret = engine_config(root, "prod")
    assert "tfplat:monitoring" in secret  # marked secret as a whole, as Pulumi does
    with pytest.raises(ConfigError) as err:
        load(root, "prod", engine_config=values, engine_secret_keys=secret)
    assert "config.tfplat:monitoring.grafana.admin_password: a secret is in plain text" in err.value.render()
    assert "hunter2" not in err.value.render()
    load(root, "staging", engine_config=engine_config(root, "staging")[0])  # an untouched stack loads
