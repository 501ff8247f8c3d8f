"""Resource names and labels: the one place that decides them.

Names come from map keys (model, pool, color), never list positions, so adding a model
never renames another. They are part of the external contract: a rename needs an alias
(see docs/upgrading.md).
"""

from __future__ import annotations

from collections.abc import Mapping
import hashlib
import json
from typing import Any

PART_OF = "tfplat"
MANAGED_BY = "tfplat"

# Labels the platform owns (selectors use the stable subset).
LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_VERSION = "app.kubernetes.io/version"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_COLOR = "tfplat.dev/color"
LABEL_MODEL = "tfplat.dev/model"
LABEL_TEAM = "tfplat.dev/team"
LABEL_ENV = "tfplat.dev/environment"
LABEL_POOL = "tfplat.dev/pool"
LABEL_ACCELERATOR = "tfplat.dev/accelerator"
LABEL_ROLE = "tfplat.dev/role"  # node pools: system or serving


def fleet_name(model: str, color: str) -> str:
    """Deployment / per-color Service of one color: resnet50-blue."""
    return f"{model}-{color}"


def live_service_name(model: str) -> str:
    return model


def service_account_name(model: str) -> str:
    return f"{model}-serving"


def content_hash(data: Mapping[str, Any], length: int = 8) -> str:
    """Stable short hash of JSON-able content (sorted keys)."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def model_labels(*, model: str, component: str, team: str, environment: str,
                 color: str | None = None, version: int | None = None) -> dict[str, str]:
    """The full label set on every object of a model fleet."""
    labels = {
        LABEL_NAME: "tensorflow-serving",
        LABEL_INSTANCE: model if color is None else fleet_name(model, color),
        LABEL_COMPONENT: component,
        LABEL_PART_OF: PART_OF,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_MODEL: model,
        LABEL_TEAM: team,
        LABEL_ENV: environment,
    }
    if color is not None:
        labels[LABEL_COLOR] = color
    if version is not None:
        labels[LABEL_VERSION] = str(version)
    return labels


def selector(model: str, color: str | None = None) -> dict[str, str]:
    """Selector labels: never include the version, so a color can change version in place."""
    sel = {LABEL_NAME: "tensorflow-serving", LABEL_MODEL: model}
    if color is not None:
        sel[LABEL_COLOR] = color
    return sel
