"""Migration: a device running the pre-TUF client, trusting only its pinned key, moves to TUF.

The device first installs a model with the released pre-TUF client (tests/tf/legacy/client_v1.py,
frozen) from documents in the old format. Then, as docs/runbooks/edge-migrate-to-tuf.md says:
the root ceremony, `tfplat-model edge migrate` (the old key signs the new root once), a TUF
publish, and the new client on the device, given only the key it already pins. It keeps its
model, moves to TUF, and from then on trusts only TUF.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
import sys
from types import ModuleType

from conftest import S3, Env
from edgekit import TestStack, ed25519_raw
import pytest

from modelkit.cli.main import main
from modelkit.device.client import EdgeClient
from modelkit.device.layout import BOOTSTRAP
from modelkit.edge import legacy
from modelkit.edge.build import BuildResult

MANIFEST_TYPE = "application/vnd.tfplat.edge.manifest.v1+json"
CHANNEL_TYPE = "application/vnd.tfplat.edge.channel.v1+json"


def old_client() -> ModuleType:
    spec = importlib.util.spec_from_file_location("client_v1", Path(__file__).parent / "legacy" / "client_v1.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["client_v1"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def publish_the_old_way(s3: S3, bucket: str, build: BuildResult, pem: str, key_id: str) -> None:
    """The pre-TUF layout: a blob, a signed manifest, signed channel pointers (as the old publisher wrote)."""
    sign = legacy.LocalLegacySigner(legacy.load_private_key_pem(pem.encode(), "legacy"))
    variants = {}
    for name, entry in build.manifest["variants"].items():
        data = (build.out_dir / "variants" / f"{name}.tflite").read_bytes()
        s3.put(bucket, f"blobs/sha256/{entry['sha256']}", data)
        variants[name] = {**entry, "blob": f"blobs/sha256/{entry['sha256']}"}
    manifest = legacy.envelope({**build.manifest, "variants": variants}, MANIFEST_TYPE, sign, key_id)
    s3.put(bucket, f"manifests/tiny/{build.version}.json", manifest)
    for channel, version in (("stable", build.version), ("canary", None)):
        pointer = {"model": "tiny", "channel": channel, "version": version,
                   "manifest": f"manifests/tiny/{version}.json" if version else None,
                   "manifest_sha256": hashlib.sha256(manifest).hexdigest() if version else None,
                   "issued_at": "2026-11-01T00:00:00.000000+00:00", **({"percent": 0} if version is None else {})}
        s3.put(bucket, f"channels/tiny/{channel}.json", legacy.envelope(pointer, CHANNEL_TYPE, sign, key_id))


def test_a_device_on_the_pinned_key_scheme_moves_to_tuf(env: Env, s3: S3, builds: dict[int, BuildResult],
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = TestStack(env, "edgemig").write(stable=2)
    pem, pinned = stack.keys.legacy
    bucket = s3.new_bucket()
    base = f"{s3.endpoint}/{bucket}/edge"
    publish_the_old_way(s3, bucket, builds[1], pem, "legacy-1")
    store = tmp_path / "device"
    before = old_client().EdgeClient(base_url=base, model="tiny", device_id="d1", store=store,
                                     trusted_keys={"legacy-1": pinned}, preference=["int8"]).update()
    assert before.status == "updated" and before.installed.version == 1

    # The migration, as the runbook runs it.
    stack.ceremony()
    monkeypatch.setenv("TFPLAT_EDGE_LEGACY_KEY", pem)
    assert main(["edge", "migrate", "--stack", "edgemig", "--bucket", f"s3://{bucket}/edge"]) == 0
    assert main(["edge", "migrate", "--stack", "edgemig", "--bucket", f"s3://{bucket}/edge"]) == 0  # idempotent
    stack.publish(bucket)

    device = EdgeClient(base_url=base, model="tiny", device_id="d1", store=store, legacy_keys={"legacy-1": pinned},
                        environment="staging", preference=["int8"])
    assert device.installed() is not None and device.installed().version == 1  # type: ignore[union-attr]
    moved = device.update()
    assert moved.status == "updated" and moved.installed is not None and moved.installed.version == 2, moved
    assert (store / "tiny" / "anchor-root.json").read_bytes() == stack.root_bytes()
    state = json.loads((store / "tiny" / "state.json").read_text())
    assert state["previous"]["version"] == 1  # the old model stays as the local rollback

    # Once moved, the bootstrap document is never read again: replacing it changes nothing.
    s3.put(bucket, BOOTSTRAP, b"garbage")
    assert device.update().status == "unchanged"


def test_bootstrap_documents_that_must_not_be_trusted(env: Env, s3: S3, builds: dict[int, BuildResult],
                                                      tmp_path: Path) -> None:
    stack = TestStack(env, "edgemig2").write(stable=1)
    stack.ceremony()
    bucket = s3.new_bucket()
    stack.publish(bucket)
    pem, pinned = stack.keys.legacy
    signer = legacy.LocalLegacySigner(legacy.load_private_key_pem(pem.encode(), "legacy"))

    def device(store: str, environment: str = "staging") -> EdgeClient:
        return EdgeClient(base_url=f"{s3.endpoint}/{bucket}/edge", model="tiny", device_id="d",
                          store=tmp_path / store, legacy_keys={"legacy-1": pinned}, environment=environment)

    other_pem, _ = ed25519_raw()  # a key the device does not pin
    forged = legacy.bootstrap_document(stack.root_bytes(), environment="staging", stack="edgemig2",
                                       signer=legacy.LocalLegacySigner(legacy.load_private_key_pem(
                                           other_pem.encode(), "other")), key_id="legacy-1")
    s3.put(bucket, BOOTSTRAP, forged)
    result = device("forged").update()
    assert result.status == "kept" and "bad signature" in (result.error or "")
    assert not (tmp_path / "forged" / "tiny" / "anchor-root.json").exists()

    # The legacy key was shared by every environment: a prod device refuses a staging root with it.
    s3.put(bucket, BOOTSTRAP, legacy.bootstrap_document(stack.root_bytes(), environment="staging", stack="edgemig2",
                                                        signer=signer, key_id="legacy-1"))
    result = device("prod", environment="prod").update()
    assert result.status == "kept" and "environment 'staging', this device is 'prod'" in (result.error or "")
    # A bootstrap root that does not verify with its own keys is refused too.
    broken = json.loads(stack.root_bytes())
    broken["signatures"] = []
    s3.put(bucket, BOOTSTRAP, legacy.bootstrap_document(json.dumps(broken).encode(), environment="staging",
                                                        stack="edgemig2", signer=signer, key_id="legacy-1"))
    result = device("unsigned").update()
    assert result.status == "kept" and "UnsignedMetadataError" in (result.error or "")
    assert device("staging").update().status == "kept"  # same broken document
