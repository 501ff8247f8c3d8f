"""Keys: per-environment roots, the root ceremony with a threshold, rotations, leaked keys, the scheduled re-sign.

The recovery test is the one the old scheme failed: a leaked online and targets key signs
an attacker's model into far-future versions; after the rotation runbook (new keys, a root
signed by the offline root keys, one publish) every device is back on the legitimate
channel, with no step on the device.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from conftest import S3, Env
from edgekit import Keys, TestStack, signer
import pytest
from tuf.api.metadata import Metadata, MetaFile, Signed, Snapshot, TargetFile, Targets, Timestamp
from tuf.api.serialization.json import JSONSerializer

from modelkit.device.client import EdgeClient
from modelkit.device.layout import Pointer, channel_path, metadata_key, role_name, target_key
from modelkit.edge import keys as edge_keys
from modelkit.edge import publish as pub
from modelkit.edge import trust
from modelkit.edge.build import BuildResult
from modelkit.errors import UserError

FAR = 1_000_000_000  # the attacker's version numbers: far past anything legitimate


def _sign(signed: Signed, key: edge_keys.KeyPair) -> bytes:
    md: Metadata[Any] = Metadata(signed)
    md.sign(signer(key))
    return md.to_bytes(JSONSerializer(compact=True))


def attack_with_leaked_keys(s3: S3, bucket: str, stack: TestStack, targets: dict[str, TargetFile]) -> None:
    """What an attacker holding the online and targets keys can write: a model role pointing stable
    at a model of their choice, and the metadata above it, all at version FAR, expiring in a year."""
    expires = datetime.now(UTC) + timedelta(days=365)
    current = Metadata.from_bytes(s3.get(bucket, metadata_key("targets", 1)))
    role = _sign(Targets(version=FAR, expires=expires, targets=targets), stack.keys.targets)
    top = _sign(Targets(version=FAR, expires=expires, targets={},
                        delegations=current.signed.delegations), stack.keys.targets)  # type: ignore[attr-defined]

    def meta(raw: bytes) -> MetaFile:
        return MetaFile.from_data(FAR, raw, ["sha256"])

    snapshot = _sign(Snapshot(version=FAR, expires=expires, meta={
        "targets.json": meta(top), f"{role_name('tiny')}.json": meta(role)}), stack.keys.online)
    timestamp = _sign(Timestamp(version=FAR, expires=expires, snapshot_meta=meta(snapshot)), stack.keys.online)
    for key, body in ((metadata_key(role_name("tiny"), FAR), role), (metadata_key("targets", FAR), top),
                      (metadata_key("snapshot", FAR), snapshot), (metadata_key("timestamp"), timestamp)):
        s3.put(bucket, key, body)


def test_devices_recover_from_leaked_online_and_targets_keys_with_no_step_on_the_device(
        env: Env, s3: S3, builds: dict[int, BuildResult], tmp_path: Path) -> None:
    stack = TestStack(env, "edgeleak").write(stable=1)
    stack.ceremony()
    bucket = s3.new_bucket()
    stack.write(stable=1, canary=None).publish(bucket, build=None, extra_versions=[2])  # v2 built, not approved
    device = stack.device(s3, bucket, tmp_path / "a")
    assert device.update().installed.version == 1  # type: ignore[union-attr]

    # The attack: stable -> v2 (say, a model the attacker tampered with), at versions far in the future.
    role = Metadata.from_bytes(s3.get(bucket, metadata_key(role_name("tiny"), 1)))
    targets = dict(role.signed.targets)  # type: ignore[attr-defined]
    evil = Pointer(model="tiny", channel="stable", environment="staging", version=2, percent=0).to_bytes()
    info = TargetFile.from_data(channel_path("tiny", "stable"), evil)
    targets[info.path] = info
    s3.put(bucket, target_key(info.path, info.hashes["sha256"]), evil)
    planted = TargetFile.from_data("tiny/7/float32.tflite", b"a version nobody built")  # for later
    targets[planted.path] = planted
    attack_with_leaked_keys(s3, bucket, stack, targets)
    hit = device.update()
    assert hit.status == "updated" and hit.installed is not None and hit.installed.version == 2  # the compromise

    # The rotation runbook: new online and targets keys, a root signed by the offline root keys, publish.
    stack.keys.online, stack.keys.targets = edge_keys.generate(), edge_keys.generate()
    stack.write(stable=1)
    assert stack.ceremony() == stack.roots / "2.root.json"
    stats = stack.publish(bucket)
    assert metadata_key("root", 2) in stats.uploaded
    assert any(s.startswith(f"timestamp v{FAR + 1}") for s in stats.signed), stats.signed
    # Nothing the leaked key signed is carried over: only what was built here is published again.
    republished = Metadata[Targets].from_bytes(s3.get(bucket, metadata_key(role_name("tiny"), FAR + 1))).signed
    assert planted.path not in republished.targets and "tiny/2/int8.tflite" not in republished.targets
    assert "only versions in the build folder are published" in stats.warnings[0]

    back = device.update()  # no step on the device: it follows root v2 and drops what it cached
    assert back.status == "updated" and back.installed is not None, back
    assert (back.installed.version, back.installed.channel) == (1, "stable")
    never_hit = stack.device(s3, bucket, tmp_path / "b")  # a device that ships root v1 only
    assert never_hit.update().installed.version == 1  # type: ignore[union-attr]


def test_a_scheduled_targets_key_rotation_keeps_what_was_published(
        env: Env, s3: S3, builds: dict[int, BuildResult], tmp_path: Path) -> None:
    """Rotating the targets key without a leak: refresh re-signs every model role as it is, under
    the new delegation, only when told the old key is trusted; the old key then counts nowhere."""
    stack = TestStack(env, "edgetrot").write(stable=1)
    stack.ceremony()
    bucket = s3.new_bucket()
    stack.publish(bucket, extra_versions=[2])
    device = stack.device(s3, bucket, tmp_path)
    assert device.update().installed.version == 1  # type: ignore[union-attr]
    old = stack.keys.targets
    stack.keys.targets = edge_keys.generate()
    stack.write(stable=1).ceremony()
    stats, warnings = pub.refresh(stack.context(bucket), datetime.now(UTC))  # not trusted by default
    assert "is signed by a key the newest root does not trust" in warnings[0]
    result = device.update()
    assert result.status == "kept" and "signed by 0/1" in (result.error or "")  # the role is refused, model kept
    stats, warnings = pub.refresh(stack.context(bucket, keep_published=True), datetime.now(UTC))
    assert warnings == [] and f"{role_name('tiny')} v2" in stats.signed
    role = Metadata.from_bytes(s3.get(bucket, metadata_key(role_name("tiny"), 2))).signed
    assert "tiny/2/int8.tflite" in role.targets  # type: ignore[attr-defined]  # carried over, re-signed
    assert device.update().status == "unchanged"
    # The old targets key now signs nothing a device accepts.
    forged = Metadata.from_bytes(s3.get(bucket, metadata_key(role_name("tiny"), 2)))
    forged.signatures.clear()
    forged.sign(signer(old))
    root_v2 = Metadata.from_bytes(stack.root_bytes(2)).signed
    assert not trust.status(trust.load_roots(stack.roots))[1].needs
    top = Metadata.from_bytes(s3.get(bucket, metadata_key("targets", 2))).signed
    with pytest.raises(Exception, match="signed by 0/1"):
        top.verify_delegate(role_name("tiny"), forged.signed_bytes, forged.signatures)
    assert edge_keys.public_key(old.public_b64).keyid not in root_v2.keys


def test_dev_metadata_is_refused_on_a_prod_device(env: Env, edge_stack: TestStack, s3: S3,
                                                  builds: dict[int, BuildResult], tmp_path: Path) -> None:
    prod = TestStack(env, "edgeprod", environment="prod", keys=Keys.new(roots=3), threshold=2).write(stable=1)
    prod.ceremony()
    assert Metadata.from_bytes(prod.root_bytes()).signed.unrecognized_fields["x-tfplat"] == {
        "environment": "prod", "stack": "edgeprod"}
    staging_bucket, prod_bucket = s3.new_bucket(), s3.new_bucket()
    edge_stack.write(stable=2).publish(staging_bucket)
    prod.publish(prod_bucket)
    prod_device = prod.device(s3, prod_bucket, tmp_path / "p")
    assert prod_device.update().installed.version == 1  # type: ignore[union-attr]

    # Pointed at the staging repository (a wrong URL, a DNS trick): other keys, refused.
    astray = prod.device(s3, staging_bucket, tmp_path / "p")
    result = astray.update()
    assert result.status == "kept" and "UnsignedMetadataError" in (result.error or "")
    assert result.installed is not None and result.installed.version == 1
    with pytest.raises(ValueError, match="the trusted root is for environment 'staging', not 'prod'"):
        edge_stack.device(s3, staging_bucket, tmp_path / "x", environment="prod")

    # Defence in depth: even metadata signed with prod's own keys is refused if it names staging.
    wrong = pub.Context(**{**prod.context(prod_bucket).__dict__, "environment": "staging"})
    prod.write(stable=2)
    pub.publish(publisher=pub.Publisher(wrong, "tiny"), build_root=env.build, now=datetime.now(UTC), replace=True)
    result = prod_device.update()
    assert result.status == "kept" and "environment" in (result.error or "") and result.installed is not None
    assert result.installed.version == 1
    edge_stack.write(stable=1)


def test_root_ceremony_needs_the_threshold_of_old_and_new_root_keys(env: Env, s3: S3,
                                                                    builds: dict[int, BuildResult],
                                                                    tmp_path: Path) -> None:
    stack = TestStack(env, "edgecere", keys=Keys.new(roots=3), threshold=2).write(stable=1)
    path = stack.ceremony(signers=1)
    assert path is not None
    with pytest.raises(UserError, match="no signed root for stack edgecere"):
        stack.context(s3.new_bucket())
    st = trust.sign(path, signer(stack.keys.root[1]))
    assert st.complete and st.signed == ("holder-1", "holder-2")
    with pytest.raises(UserError, match="not a root key of this version or the one before"):
        trust.sign(path, signer(stack.keys.targets))
    # Replace a root key holder: v2 needs two of v1's keys and two of v2's.
    leaving = stack.keys.root[0]
    stack.keys.root[0] = edge_keys.generate()
    stack.write(stable=1)
    draft = stack.ceremony(signers=0)
    assert draft == stack.roots / "2.root.json"
    trust.sign(draft, signer(stack.keys.root[0]))  # the newcomer
    trust.sign(draft, signer(stack.keys.root[1]))
    status = trust.status(trust.load_roots(stack.roots))[1]
    assert not status.complete and "previous root's keys" in status.needs, status
    trust.sign(draft, signer(leaving))  # the one leaving signs the hand-over
    assert trust.status(trust.load_roots(stack.roots))[1].complete
    bucket = s3.new_bucket()
    stack.publish(bucket)
    device = stack.device(s3, bucket, tmp_path)  # ships root v1, walks to v2
    assert device.update().installed.version == 1  # type: ignore[union-attr]


def test_the_scheduled_refresh_resigns_what_is_due_and_nothing_else(env: Env, s3: S3,
                                                                    builds: dict[int, BuildResult],
                                                                    tmp_path: Path) -> None:
    stack = TestStack(env, "edgeresign", timestamp_hours=2).write(stable=1)
    stack.ceremony()
    bucket = s3.new_bucket()
    now = datetime.now(UTC)
    stack.publish(bucket, now=now - timedelta(minutes=90))  # 30 minutes of the timestamp's 2 hours left
    device = stack.device(s3, bucket, tmp_path)
    assert device.update().installed.version == 1  # type: ignore[union-attr]
    online_only = {"online": signer(stack.keys.online), "targets": None}  # the job needs no targets key
    stats, warnings = pub.refresh(stack.context(bucket, signers=online_only), now)
    assert stats.signed == ["timestamp v2"] and stats.uploaded == ["metadata/timestamp.json"] and warnings == []
    stats, _ = pub.refresh(stack.context(bucket, signers=online_only), now)
    assert stats.signed == [] and stats.uploaded == []  # nothing due
    # Five weeks on, snapshot and targets are due too: targets needs its key, and says so.
    later = now + timedelta(days=50)
    with pytest.raises(UserError, match=r"must be re-signed .* no targets key was given"):
        pub.refresh(stack.context(bucket, signers=online_only, now=later), later)
    stats, _ = pub.refresh(stack.context(bucket, now=later), later)
    assert {s.split(" v")[0] for s in stats.signed} == {role_name("tiny"), "targets", "snapshot", "timestamp"}
    # Near the root's end the job still re-signs, then fails loudly: a ceremony is due.
    end = now + timedelta(days=350)
    stats, warnings = pub.refresh(stack.context(bucket, now=end), end)
    assert warnings and "root v1 expires in" in warnings[0]


def test_keys_in_pem_files_may_be_encrypted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pair = edge_keys.generate("ecdsa-p256", passphrase=b"correct horse")
    with pytest.raises(UserError, match="the key is encrypted and no passphrase was given"):
        edge_keys.load_signer(pair.private_pem.encode(), "root.pem")
    monkeypatch.setenv("TFPLAT_EDGE_KEY_PASSPHRASE", "wrong")
    with pytest.raises(UserError, match="not a usable PEM private key"):
        edge_keys.load_signer(pair.private_pem.encode(), "root.pem")
    monkeypatch.setenv("TFPLAT_EDGE_KEY_PASSPHRASE", "correct horse")
    signed = edge_keys.load_signer(pair.private_pem.encode(), "root.pem")
    assert edge_keys.spki_b64(signed.public_key) == pair.public_b64


def test_a_device_without_a_trust_anchor_does_not_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="give the device its trusted root"):
        EdgeClient(base_url="https://edge.example.com", model="tiny", device_id="d", store=tmp_path)
    with pytest.raises(ValueError, match="needs environment="):
        EdgeClient(base_url="https://edge.example.com", model="tiny", device_id="d", store=tmp_path,
                   legacy_keys={"k": "AAAA"})
