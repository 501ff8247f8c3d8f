"""Container images: images/versions.yaml plus per-stack overrides -> pinned references."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
import json
from pathlib import Path
from typing import Any

from infra import bounded_yaml

VERSIONS_FILE = Path(__file__).resolve().parents[2] / "images" / "versions.yaml"
VERSIONS_SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "versions.schema.json"


class VersionPinError(ValueError):
    """images/versions.yaml lacks a pin the platform needs, or pins it loosely (a chart, a CRD
    bundle, the autoscaler for a Kubernetes minor): a config mistake, exit 2."""


@dataclass(frozen=True, kw_only=True)
class Image:
    key: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def ref(self) -> str:
        """repository:tag@digest, or whichever of tag/digest exist."""
        out = self.repository
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    @property
    def pinned_by_digest(self) -> bool:
        return self.digest is not None


@cache
def read_versions(path: Path = VERSIONS_FILE) -> Mapping[str, Any]:
    """images/versions.yaml parsed and checked once per process (images, charts, CRDs, EKS
    add-ons read their sections of it); callers only read the result. A file that breaks
    schemas/versions.schema.json, or a chart without its chart_images entry, raises
    YamlFileError naming the line and field (the CLI exits 2)."""
    display = "images/versions.yaml" if path == VERSIONS_FILE else str(path)
    data: Any = bounded_yaml.load_file(path, display)
    problem = versions_problem(data)
    if problem is not None:
        field, message, hint = problem
        raise bounded_yaml.YamlFileError(display, _line_of(path, display, field), message, hint, field=field)
    return data if isinstance(data, Mapping) else {}


def versions_problem(data: Any) -> tuple[str, str, str] | None:
    """(field path, what is wrong, how to fix) of the first problem of a parsed versions file."""
    from jsonschema import Draft202012Validator

    schema = json.loads(VERSIONS_SCHEMA.read_text(encoding="utf-8"))
    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        err = errors[0]
        field = ".".join(str(p) for p in err.absolute_path) or "(whole file)"
        shown = repr(err.instance) if not isinstance(err.instance, (dict, list)) else type(err.instance).__name__
        described = err.schema.get("description") if isinstance(err.schema, Mapping) else None
        return (field, err.message if err.message.startswith(shown) else f"{shown}: {err.message}",
                f"{described or 'correct it'} (schemas/versions.schema.json; docs/charts.md for charts)")
    charts, listed = set(data["charts"]), set(data["chart_images"])
    for key in sorted(charts ^ listed):
        if key in charts:
            return (f"chart_images.{key}", f"chart {key!r} has no chart_images entry",
                    "list the image repositories the pinned chart runs (helm template it and read its image: "
                    "fields); the admission policy allows exactly those")
        return (f"chart_images.{key}", f"{key!r} is not a chart of charts: (have: {', '.join(sorted(charts))})",
                "name a key of charts:, or remove the entry")
    return None


def _line_of(path: Path, display: str, field: str) -> int | None:
    """The 1-based line of a dotted field (or of its nearest existing parent) in the file."""
    node: Any = bounded_yaml.load_file(path, display, typ="rt")
    line = None
    for part in field.split("."):
        if not hasattr(node, "lc"):
            break
        lc: Any = node.lc
        key: Any = int(part) if isinstance(node, list) and part.isdigit() else part
        try:
            line = (lc.item(key) if isinstance(node, list) else lc.key(key))[0] + 1
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
    return line


def _pins(path: Path = VERSIONS_FILE) -> Mapping[str, Mapping[str, str | None]]:
    images: Mapping[str, Mapping[str, str | None]] = read_versions(path)["images"]
    return images


def parse_ref(key: str, ref: str) -> Image:
    """Split a reference (validated by the stack schema) into its parts."""
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    repo, tag = ref, None
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = ref.rsplit(":", 1)
    return Image(key=key, repository=repo, tag=tag, digest=digest)


def image(key: str, overrides: Mapping[str, str] | None = None) -> Image | None:
    """The image for `key`: a stack override wins; None if neither pins one."""
    if overrides and key in overrides:
        return parse_ref(key, overrides[key])
    pin = _pins().get(key)
    if pin is None or not pin.get("repository"):
        return None
    return Image(key=key, repository=str(pin["repository"]), tag=pin.get("tag"), digest=pin.get("digest"))


def serving_image_key(accelerator_kind: str) -> str:
    return f"tfserving-{accelerator_kind}"


#: AWS fleets copy their SavedModel from S3 with this image (TF Serving >= 2.7 has no s3://).
SYNC_IMAGE_KEY = "aws-cli"


def sync_image(cloud: str, overrides: Mapping[str, str] | None = None) -> Image | None:
    """The init container's image of a fleet on `cloud` (None: GCS is read by TF Serving itself)."""
    return image(SYNC_IMAGE_KEY, overrides) if cloud == "aws" else None


def fleet_images(cloud: str, accelerator_kind: str, overrides: Mapping[str, str] | None = None) -> list[Image]:
    """Every image a model fleet of that accelerator kind runs (what the loader requires)."""
    found = [image(serving_image_key(accelerator_kind), overrides), sync_image(cloud, overrides)]
    return [i for i in found if i is not None]


#: The EKS add-ons every AWS stack installs (infra.components.aws), each pinned per minor.
EKS_ADDONS = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns", "aws-ebs-csi-driver")


def eks_addons(kubernetes_version: str) -> Mapping[str, str] | None:
    """Pinned EKS add-on versions for a Kubernetes minor version (None unless every one of
    EKS_ADDONS is pinned for it)."""
    addons: Mapping[str, Mapping[str, str]] = read_versions().get("eks_addons", {})
    pinned = addons.get(kubernetes_version)
    return pinned if pinned is not None and all(a in pinned for a in EKS_ADDONS) else None
