"""A model's replica bounds in a stack: `tfplat:models.<model>.autoscaling` over the model
file's `serving.autoscaling`, key by key, under the same key names.

The old spelling `replicas: {min, max}` is still read for a while: a notice naming the new
key while a file uses it, an error when a file writes both (docs/upgrading.md). The schema
marks it with `x-deprecated: autoscaling`; this module is the only code that knows it exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.config.errors import ConfigIssue, format_path
from infra.config.spec import ModelRollout, ModelSpec
from infra.config.yamlio import YamlDoc

#: tfplat:models.<model>.replicas.{min,max} -> tfplat:models.<model>.autoscaling.{min,max}_replicas
REPLICAS_RENAME = {"min": "min_replicas", "max": "max_replicas"}


def _new_spelling(old: Mapping[str, Any]) -> str:
    keys = [f"{REPLICAS_RENAME[k]}: {old[k]}" for k in ("min", "max") if k in old]
    return "autoscaling: {" + ", ".join(keys) + "}"


def check_stack_keys(doc: YamlDoc) -> tuple[list[ConfigIssue], list[ConfigIssue]]:
    """(errors, notices) for deprecated keys of a schema-valid stack document."""
    errors: list[ConfigIssue] = []
    notices: list[ConfigIssue] = []
    models = (doc.data.get("config") or {}).get("tfplat:models") or {}
    for name in sorted(models):
        entry = models[name]
        if not isinstance(entry, Mapping) or "replicas" not in entry:
            continue
        path: tuple[str | int, ...] = ("config", "tfplat:models", name, "replicas")
        old = entry["replicas"] or {}
        if "autoscaling" in entry:
            message = "the deprecated replicas and its replacement autoscaling are both set"
            hint = ("remove replicas and keep autoscaling only (replicas.min is autoscaling.min_replicas, "
                    "replicas.max is autoscaling.max_replicas)")
        else:
            message = "deprecated: replicas is read until tfplat 0.3 (docs/upgrading.md)"
            hint = f"replace it with `{_new_spelling(old)}`"
        issue = ConfigIssue(file=doc.file, path=format_path(path), line=doc.line_of(path), value=dict(old),
                            message=message, hint=hint)
        (errors if "autoscaling" in entry else notices).append(issue)
    return errors, notices


def check_replica_bounds(doc: YamlDoc, base: tuple[str | int, ...], rollout: ModelRollout,
                         model: ModelSpec) -> list[ConfigIssue]:
    """The stack's bounds over the model's, key by key, must still say min <= max."""
    low = rollout.min_replicas if rollout.min_replicas is not None else model.serving.autoscaling.min_replicas
    high = rollout.max_replicas if rollout.max_replicas is not None else model.serving.autoscaling.max_replicas
    if low <= high:
        return []
    legacy = "replicas" in ((doc.data.get("config") or {}).get("tfplat:models") or {}).get(rollout.model, {})
    block, lo_key, hi_key = ("replicas", "min", "max") if legacy else ("autoscaling", "min_replicas", "max_replicas")
    where = f"{block}.{hi_key}" if rollout.max_replicas is not None else \
        f"the model's serving.autoscaling.max_replicas ({model.file})"
    path = (*base, block, lo_key if rollout.min_replicas is not None else hi_key)
    return [ConfigIssue(file=doc.file, path=format_path(path), line=doc.line_of(path),
                        message=f"the minimum replicas ({low}) are above the maximum ({high}, {where})",
                        hint=f"make {block}.{lo_key} <= {block}.{hi_key} (set both here to override the model's "
                             "bounds)",
                        value=rollout.min_replicas if rollout.min_replicas is not None else rollout.max_replicas)]
