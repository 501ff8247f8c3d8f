"""The security choices a stack file makes, checked at load time: endpoint access per tier,
and the tag-only image waivers of production, which must neither be missing nor outlive
their cause."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from infra.config.errors import ConfigError
from infra.config.loader import load

DIGEST = "sha256:" + "0f" * 32


def _messages(root: Path, stack: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load(root, stack)
    return [f"{i.path}: {i.message}" for i in err.value.issues]


def test_dev_and_staging_default_to_a_public_endpoint(repo_copy: Path) -> None:
    path = repo_copy / "stacks" / "Pulumi.staging.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("      access: public\n", ""), encoding="utf-8")
    assert load(repo_copy, "staging").stack.cluster.endpoint.access == "public"


def test_the_deprecated_public_flag_still_says_how(repo_copy: Path) -> None:
    path = repo_copy / "stacks" / "Pulumi.staging.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("      access: public\n", "      public: false\n"),
                    encoding="utf-8")
    endpoint = load(repo_copy, "staging").stack.cluster.endpoint
    assert (endpoint.access, endpoint.legacy_public) == ("private", False)


def test_a_waiver_for_an_image_pinned_by_digest_now_is_refused(repo_copy: Path) -> None:
    """Once the TPU image's digest is pinned (here in the stack's override), its waiver goes."""
    yaml = YAML()
    path = repo_copy / "stacks" / "Pulumi.prod.yaml"
    doc = yaml.load(path.read_text(encoding="utf-8"))
    ref = "us-central1-docker.pkg.dev/acme-ml-shared/serving/tfserving-tpu:2.19.1"
    doc["config"]["tfplat:serving"]["images"]["tfserving-tpu"] = f"{ref}@{DIGEST}"
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(doc, fh)
    assert _messages(repo_copy, "prod") == [
        f'config.tfplat:admission.tag_only."{ref}": waives an image that is pinned by digest now ({ref}@{DIGEST})']
    del doc["config"]["tfplat:admission"]["tag_only"][ref]
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(doc, fh)
    assert load(repo_copy, "prod").stack.admission.tag_only.keys() == {
        "docker.io/tensorflow/serving:2.19.1", "docker.io/tensorflow/serving:2.19.1-gpu"}


def test_a_missing_model_file_does_not_make_waivers_look_stale(repo_copy: Path) -> None:
    (repo_copy / "models" / "resnet50.yaml").unlink()
    messages = _messages(repo_copy, "prod")
    assert not [m for m in messages if "tag_only" in m], messages
    assert any("no model file models/resnet50.yaml" in m for m in messages)
