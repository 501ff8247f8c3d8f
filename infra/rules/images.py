"""Container images: images/versions.yaml plus per-stack overrides -> pinned references."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from infra import bounded_yaml

VERSIONS_FILE = Path(__file__).resolve().parents[2] / "images" / "versions.yaml"


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
    """images/versions.yaml parsed once per process (images, charts, CRDs, EKS add-ons read
    their sections of it); callers only read the result."""
    display = "images/versions.yaml" if path == VERSIONS_FILE else str(path)
    data: Any = bounded_yaml.load_file(path, display)  # raises YamlFileError (the CLI exits 2)
    return data if isinstance(data, Mapping) else {}


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
