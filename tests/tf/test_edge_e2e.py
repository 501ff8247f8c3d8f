"""Build -> publish -> device fetch, end to end against S3 served over HTTP (moto server)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
import shutil
from typing import Any

from conftest import S3, Env, device, private_key, publisher, run_publish, write_stack
import numpy as np
import pytest

from modelkit.device.client import (
    CHANNEL_TYPE,
    MANIFEST_TYPE,
    Installed,
    blob_key,
    canonical_json,
    channel_key,
    follows_canary,
    manifest_key,
)
from modelkit.edge import publish as pub
from modelkit.edge import signing
from modelkit.edge.build import BuildResult
from modelkit.errors import UserError


def obj(s3: S3, bucket: str, rel: str) -> bytes:
    body: bytes = s3.client().get_object(Bucket=bucket, Key=f"edge/{rel}")["Body"].read()
    return body


def put(s3: S3, bucket: str, rel: str, body: bytes) -> None:
    s3.client().put_object(Bucket=bucket, Key=f"edge/{rel}", Body=body)


def version_of(installed: Installed | None) -> int | None:
    return installed.version if installed else None


def int8_sha(build: BuildResult) -> str:
    return str(build.manifest["variants"]["int8"]["sha256"])


def test_build_publishes_every_variant_with_measured_figures(builds: dict[int, BuildResult]) -> None:
    b = builds[1]
    assert b.published == ["float32", "dynamic_range", "float16", "int8"]
    for name, entry in b.manifest["variants"].items():
        data = (b.out_dir / "variants" / f"{name}.tflite").read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["size"]
        m = entry["metrics"]
        assert m["latency_ms"]["p50"] > 0 and m["parity_samples"] == 32
        assert m["max_abs_error"] <= entry["gate"]["max_abs_error"]
        assert m["top1_agreement"] >= entry["gate"]["min_top1_agreement"]
        assert entry["runtime"]["builtin_ops"] and entry["runtime"]["min_runtime_version"]
    int8 = b.manifest["variants"]["int8"]
    assert int8["inputs"]["features"]["dtype"] == "int8" and int8["inputs"]["features"]["quantization"]["scale"] > 0
    assert int8["runtime"]["integer_only"] is True


def test_publish_fetch_verify_and_republish_uploads_nothing(env: Env, s3: S3, builds: dict[int, BuildResult],
                                                            tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    write_stack(env, stable=1)
    first = run_publish(env, bucket)
    assert first.uploaded_bytes > 0
    assert manifest_key("tiny", 1) in first.uploaded and channel_key("tiny", "stable") in first.uploaded

    head = s3.client().head_object(Bucket=bucket, Key=f"edge/{blob_key(int8_sha(builds[1]))}")
    assert head["CacheControl"] == pub.CACHE_BLOB
    head = s3.client().head_object(Bucket=bucket, Key=f"edge/{channel_key('tiny', 'stable')}")
    assert head["CacheControl"] == pub.CACHE_CHANNEL

    client = device(env, s3, bucket, tmp_path)
    result = client.update()
    assert result.error is None and result.status == "updated"
    assert result.installed is not None and result.installed.version == 1 and result.installed.variant == "int8"
    assert Path(result.installed.path).read_bytes() == (builds[1].out_dir / "variants" / "int8.tflite").read_bytes()
    assert client.update().status == "unchanged"

    again = run_publish(env, bucket)
    assert again.uploaded_bytes == 0 and again.uploaded == []
    assert len(again.skipped) == len(first.uploaded) + len(first.skipped)


def test_tampered_or_truncated_blob_is_refused(env: Env, s3: S3, builds: dict[int, BuildResult],
                                              tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    write_stack(env, stable=1)
    run_publish(env, bucket)
    client = device(env, s3, bucket, tmp_path)
    assert client.update().status == "updated"

    write_stack(env, stable=2)
    run_publish(env, bucket)
    rel = blob_key(int8_sha(builds[2]))
    good = obj(s3, bucket, rel)
    put(s3, bucket, rel, good[:-1] + bytes([good[-1] ^ 0xFF]))
    result = client.update()
    assert result.status == "kept" and result.error is not None and "tampered" in result.error
    assert result.installed is not None and result.installed.version == 1  # last known good

    put(s3, bucket, rel, good[: len(good) // 2])
    result = client.update()
    assert result.status == "kept" and result.error is not None and "truncated" in result.error
    assert version_of(client.installed()) == 1

    put(s3, bucket, rel, good)
    assert version_of(client.update().installed) == 2


def _envelope(raw: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(raw)
    return data


def test_tampered_manifest_is_refused(env: Env, s3: S3, builds: dict[int, BuildResult], tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    write_stack(env, stable=1)
    run_publish(env, bucket)
    client = device(env, s3, bucket, tmp_path)
    assert client.update().status == "updated"
    write_stack(env, stable=2)
    run_publish(env, bucket)
    rel, ptr_rel = manifest_key("tiny", 2), channel_key("tiny", "stable")
    good_manifest, good_ptr = obj(s3, bucket, rel), obj(s3, bucket, ptr_rel)

    # 1. Point the manifest at another blob, keeping its signature.
    env_doc = _envelope(good_manifest)
    payload = json.loads(env_doc["payload"])
    payload["variants"]["int8"]["sha256"] = int8_sha(builds[1])
    forged = canonical_json({**env_doc, "payload": canonical_json(payload).decode()})
    put(s3, bucket, rel, forged)
    result = client.update()
    assert result.status == "kept" and "sha256" in (result.error or "")

    # 2. Also fix the pointer's manifest hash (without the private key, its signature breaks).
    ptr_doc = _envelope(good_ptr)
    ptr_payload = json.loads(ptr_doc["payload"])
    ptr_payload["manifest_sha256"] = hashlib.sha256(forged).hexdigest()
    put(s3, bucket, ptr_rel, canonical_json({**ptr_doc, "payload": canonical_json(ptr_payload).decode()}))
    result = client.update()
    assert result.status == "kept" and "bad signature" in (result.error or "")

    # 3. Re-sign both with an attacker's key: its key id is not pinned on the device.
    rogue_key = private_key(signing.generate())
    forged = signing.envelope(payload, MANIFEST_TYPE, rogue_key, env.key_id + "-rogue")
    ptr_payload["manifest_sha256"] = hashlib.sha256(forged).hexdigest()
    put(s3, bucket, rel, forged)
    put(s3, bucket, ptr_rel, signing.envelope(ptr_payload, CHANNEL_TYPE, rogue_key, "rogue"))
    result = client.update()
    assert result.status == "kept" and "unknown key id" in (result.error or "")

    # 4. Same key id as the pinned one, wrong key.
    put(s3, bucket, ptr_rel, signing.envelope(ptr_payload, CHANNEL_TYPE, rogue_key, env.key_id))
    result = client.update()
    assert result.status == "kept" and "bad signature" in (result.error or "")
    assert version_of(client.installed()) == 1

    put(s3, bucket, rel, good_manifest)
    put(s3, bucket, ptr_rel, good_ptr)
    assert version_of(client.update().installed) == 2


class PublishKilledError(Exception):
    """Stands for a CI job killed mid-publish."""


def test_interrupted_publish_leaves_channel_on_previous_version(env: Env, s3: S3, builds: dict[int, BuildResult],
                                                               tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    write_stack(env, stable=1)
    run_publish(env, bucket)
    write_stack(env, stable=2)
    done: list[str] = []

    def stop_after_first(rel: str) -> None:
        done.append(rel)
        raise PublishKilledError(rel)

    with pytest.raises(PublishKilledError):
        pub.publish(publisher=publisher(env, bucket, workers=1), build_root=env.build, after_blob=stop_after_first)
    new_blobs = {e["sha256"] for e in builds[2].manifest["variants"].values()}
    present = {k.rsplit("/", 1)[1] for k, _ in _keys(s3, bucket, "edge/blobs/")}
    assert 1 <= len(new_blobs & present) < len(new_blobs)  # some blobs of v2 went up, not all
    assert not list(_keys(s3, bucket, f"edge/{manifest_key('tiny', 2)}"))  # no manifest for v2
    result = device(env, s3, bucket, tmp_path).update()
    assert result.error is None and result.installed is not None and result.installed.version == 1

    resumed = run_publish(env, bucket)
    assert not set(done) & set(resumed.uploaded)  # what went up before is not sent again
    assert version_of(device(env, s3, bucket, tmp_path).update().installed) == 2


def _keys(s3: S3, bucket: str, prefix: str) -> list[tuple[str, int]]:
    resp = s3.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [(o["Key"], o["Size"]) for o in resp.get("Contents", [])]


def test_canary_share_and_rollback_follow_the_stack(env: Env, s3: S3, builds: dict[int, BuildResult],
                                                   tmp_path: Path) -> None:
    ids = [f"device-{i}" for i in range(2000)]
    share = sum(follows_canary("tiny", d, 25) for d in ids) / len(ids)
    assert 0.22 < share < 0.28
    assert [follows_canary("tiny", d, 25) for d in ids[:50]] == [follows_canary("tiny", d, 25) for d in ids[:50]]
    in_canary = next(d for d in ids if follows_canary("tiny", d, 25))
    in_stable = next(d for d in ids if not follows_canary("tiny", d, 25))

    bucket = s3.new_bucket()
    write_stack(env, stable=1, canary=2, percent=25)
    run_publish(env, bucket)
    canary_dev = device(env, s3, bucket, tmp_path / "a", device_id=in_canary)
    stable_dev = device(env, s3, bucket, tmp_path / "b", device_id=in_stable)
    got = canary_dev.update().installed
    assert got is not None and (got.version, got.channel) == (2, "canary")
    got = stable_dev.update().installed
    assert got is not None and (got.version, got.channel) == (1, "stable")

    # Rollback is a config change back: canary off; only the canary pointer moves.
    write_stack(env, stable=1)
    stats = run_publish(env, bucket)
    assert stats.uploaded == [channel_key("tiny", "canary")]
    got = canary_dev.update().installed
    assert got is not None and (got.version, got.channel) == (1, "stable")


def test_replayed_old_pointer_is_refused(env: Env, s3: S3, builds: dict[int, BuildResult], tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    write_stack(env, stable=1)
    run_publish(env, bucket)
    old_pointer = obj(s3, bucket, channel_key("tiny", "stable"))
    write_stack(env, stable=2)
    run_publish(env, bucket)
    client = device(env, s3, bucket, tmp_path)
    assert version_of(client.update().installed) == 2
    put(s3, bucket, channel_key("tiny", "stable"), old_pointer)  # validly signed, but stale
    result = client.update()
    assert result.status == "kept" and "older than one already accepted" in (result.error or "")
    assert result.installed is not None and result.installed.version == 2


def test_key_rotation_resigns_and_overlap_keeps_devices_working(env: Env, s3: S3, builds: dict[int, BuildResult],
                                                                tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    write_stack(env, stable=1)
    run_publish(env, bucket)
    old_device = device(env, s3, bucket, tmp_path / "old")
    assert old_device.update().status == "updated"

    new = signing.generate()
    both = {env.key_id: env.key.public_b64, "next": new.public_b64}
    write_stack(env, stable=1, key_id="next", public_keys=both)
    stats = pub.publish(publisher=publisher(env, bucket, key=new), build_root=Path("/nonexistent"))
    # Same payloads, re-signed: manifest and pointer change, blobs do not.
    assert sorted(stats.uploaded) == [channel_key("tiny", "canary"), channel_key("tiny", "stable"),
                                      manifest_key("tiny", 1)]
    assert json.loads(obj(s3, bucket, manifest_key("tiny", 1)))["key_id"] == "next"
    overlap = device(env, s3, bucket, tmp_path / "overlap", keys=both)
    assert overlap.update().error is None
    result = old_device.update()  # pinned only the old key: refuses, keeps its model
    assert result.status == "kept" and "unknown key id 'next'" in (result.error or "")
    write_stack(env, stable=1)


def test_wrong_signing_key_and_unbuilt_version_are_user_errors(env: Env, s3: S3,
                                                                builds: dict[int, BuildResult]) -> None:
    bucket = s3.new_bucket()
    write_stack(env, stable=1)
    with pytest.raises(UserError, match="not the key pinned for key id"):
        publisher(env, bucket, key=signing.generate())
    write_stack(env, stable=7)
    with pytest.raises(UserError, match="version 7 is neither built"):
        run_publish(env, bucket)
    write_stack(env, stable=1)


def test_publish_over_gcs_s3_api_settings(env: Env, s3: S3, builds: dict[int, BuildResult], tmp_path: Path) -> None:
    """gs:// uses the GCS client settings (HMAC env keys, checksums only when required)."""
    bucket = s3.new_bucket()
    write_stack(env, stable=1)
    stats = pub.publish(publisher=publisher(env, bucket, scheme="gs"), build_root=env.build)
    assert stats.uploaded_bytes > 0
    assert version_of(device(env, s3, bucket, tmp_path).update().installed) == 1


def test_public_key_encoding_matches_stack_schema(env: Env) -> None:
    raw = base64.b64decode(env.key.public_b64)
    assert len(raw) == 32 and len(env.key.public_b64) == 44 and env.key.public_b64.endswith("=")


def test_a_build_file_changed_after_build_is_not_published(env: Env, s3: S3, builds: dict[int, BuildResult],
                                                           tmp_path: Path) -> None:
    """Bytes that do not hash to their content address never reach the bucket (it would poison the key)."""
    root = tmp_path / "build"
    shutil.copytree(env.build / "tiny" / "1", root / "tiny" / "1")
    variant = root / "tiny" / "1" / "variants" / "int8.tflite"
    data = bytearray(variant.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size, different content
    variant.write_bytes(bytes(data))
    bucket = s3.new_bucket()
    write_stack(env, stable=1)
    with pytest.raises(UserError, match="the build folder changed after `edge build`"):
        pub.publish(publisher=publisher(env, bucket), build_root=root)
    assert not _keys(s3, bucket, f"edge/{blob_key(int8_sha(builds[1]))}")
    assert not _keys(s3, bucket, "edge/manifests/") and not _keys(s3, bucket, "edge/channels/")


def test_large_blob_goes_up_in_parts_and_arrives_intact(env: Env, s3: S3, builds: dict[int, BuildResult],
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelkit.edge import transfer

    monkeypatch.setattr(transfer, "MULTIPART_THRESHOLD", 8 * 1024 * 1024)
    monkeypatch.setattr(transfer, "MULTIPART_CHUNK", 5 * 1024 * 1024)
    data = np.random.default_rng(0).bytes(12 * 1024 * 1024 + 123)  # 3 parts: 5 + 5 + 2 MiB
    sha = hashlib.sha256(data).hexdigest()
    folder = tmp_path / "build" / "tiny" / "9"
    (folder / "variants").mkdir(parents=True)
    (folder / "variants" / "float32.tflite").write_bytes(data)
    entry = {**builds[1].manifest["variants"]["float32"], "sha256": sha, "size": len(data), "blob": blob_key(sha)}
    (folder / "manifest.json").write_text(json.dumps({**builds[1].manifest, "version": 9,
                                                      "variants": {"float32": entry}}))
    bucket = s3.new_bucket()
    write_stack(env, stable=9)
    try:
        stats = pub.publish(publisher=publisher(env, bucket), build_root=tmp_path / "build")
    finally:
        write_stack(env, stable=1)
    assert blob_key(sha) in stats.uploaded
    head = s3.client().head_object(Bucket=bucket, Key=f"edge/{blob_key(sha)}")
    assert head["ETag"].strip('"').endswith("-3") and head["CacheControl"] == pub.CACHE_BLOB
    result = device(env, s3, bucket, tmp_path / "dev", preference=("float32",)).update()
    assert result.error is None and result.installed is not None
    assert Path(result.installed.path).read_bytes() == data


def test_device_without_a_canary_pointer_follows_stable(env: Env, s3: S3, builds: dict[int, BuildResult],
                                                        tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    write_stack(env, stable=1, canary=2, percent=100)
    run_publish(env, bucket)
    s3.client().delete_object(Bucket=bucket, Key=f"edge/{channel_key('tiny', 'canary')}")
    got = device(env, s3, bucket, tmp_path).update()
    assert got.error is None and got.installed is not None
    assert (got.installed.version, got.installed.channel) == (1, "stable")
    write_stack(env, stable=1)
