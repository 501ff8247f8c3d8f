"""What the cloud would compute for a resource or an invoke, for the mock engine.

Values are deterministic functions of the type, name and inputs, so two runs of the
offline plan produce byte-identical files. Only outputs the program reads are modelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def computed_outputs(typ: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    del typ, name, inputs
    return {}


def invoke_result(token: str, args: Mapping[str, Any]) -> dict[str, Any]:
    del token, args
    return {}
