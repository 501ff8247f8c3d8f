"""The TUF threat model against the real device client, through a real HTTP server an attacker controls.

Each test publishes a real repository (moto S3 over HTTP) and points devices at edge_proxy.Proxy,
which serves the bucket unless a rule says otherwise. Whatever happens, update() returns
(never raises) and the last known good model stays installed and intact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
import json
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import time
from typing import Any

from conftest import REPO, S3, Env
from edge_proxy import Answer, Proxy
from edgekit import TestStack, signer
import pytest
from tuf.api.metadata import Metadata

from modelkit.device.client import EdgeClient, UpdateResult
from modelkit.device.layout import channel_path, metadata_key, role_name
from modelkit.edge.build import BuildResult


@pytest.fixture
def stack(edge_stack: TestStack) -> Iterator[TestStack]:
    yield edge_stack.write(stable=1)
    edge_stack.write(stable=1)


def through(proxy: Proxy, stack: TestStack, store: Path, **kw: object) -> EdgeClient:
    return EdgeClient(base_url=f"{proxy.url}/edge", model="tiny", device_id=str(kw.pop("device_id", "device-1")),
                      store=store, trusted_root=stack.root_bytes(), preference=("int8", "float32"), **kw)  # type: ignore[arg-type]


@pytest.fixture
def proxy(s3: S3) -> Iterator[Proxy]:
    bucket = s3.new_bucket()
    p = Proxy(origin=f"{s3.endpoint}/{bucket}").start()
    p.bucket = bucket  # type: ignore[attr-defined]
    yield p
    p.stop()


def bucket_of(proxy: Proxy) -> str:
    return str(proxy.bucket)  # type: ignore[attr-defined]


def kept(result: UpdateResult, version: int | None, *fragments: str) -> None:
    assert result.status == "kept", result
    assert all(f in (result.error or "") for f in fragments), result.error
    assert (result.installed.version if result.installed else None) == version, result
    if result.installed is not None:
        assert Path(result.installed.path).is_file()


def serve(proxy: Proxy, key: str, answer: Answer) -> None:
    """From now on, answer `answer` for `key` (and serve everything else from the bucket)."""
    def rule(k: str) -> Answer | None:
        return answer if k == key else None

    proxy.rules[:] = [rule]


def test_rollback_to_older_signed_metadata_is_refused(stack: TestStack, s3: S3, proxy: Proxy,
                                                     builds: dict[int, BuildResult], tmp_path: Path) -> None:
    bucket = bucket_of(proxy)
    stack.publish(bucket)
    old = {k: s3.get(bucket, k) for k in ("metadata/timestamp.json", "metadata/1.snapshot.json")}
    stack.write(stable=2)
    stack.publish(bucket)
    device = through(proxy, stack, tmp_path)
    assert device.update().installed.version == 2  # type: ignore[union-attr]
    serve(proxy, "metadata/timestamp.json", Answer(body=old["metadata/timestamp.json"]))  # validly signed, older
    kept(device.update(), 2, "BadVersionNumberError", "timestamp version 1 must be >= 2")
    proxy.rules.clear()
    assert device.update().status == "unchanged"


def test_freeze_an_expired_timestamp_is_refused_even_on_first_boot(env: Env, s3: S3, proxy: Proxy,
                                                                  builds: dict[int, BuildResult],
                                                                  tmp_path: Path) -> None:
    from modelkit.edge import publish as pub

    frozen = TestStack(env, "edgefreeze", timestamp_hours=1).write(stable=1)
    frozen.ceremony()
    bucket = bucket_of(proxy)
    now = datetime.now(UTC)
    frozen.publish(bucket, now=now - timedelta(hours=3))  # its timestamp expired two hours ago: old state
    fresh = through(proxy, frozen, tmp_path / "fresh")
    kept(fresh.update(), None, "ExpiredMetadataError", "timestamp.json is expired")  # first boot: no install

    # The scheduled job re-signs it, here so that it lapses in a few seconds...
    stats, _ = pub.refresh(frozen.context(bucket), datetime.now(UTC) - timedelta(minutes=60, seconds=-15))
    assert stats.signed == ["timestamp v2"], stats.signed
    assert fresh.update().installed.version == 1  # type: ignore[union-attr]
    # ...and then the repository (or a network in between) stops changing: a freeze.
    expires = Metadata.from_bytes(s3.get(bucket, "metadata/timestamp.json")).signed.expires
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 1.5)
    kept(fresh.update(), 1, "ExpiredMetadataError")  # refused, not "unchanged"
    stats, _ = pub.refresh(frozen.context(bucket), datetime.now(UTC))
    assert fresh.update().status == "unchanged"


def test_mix_and_match_of_metadata_versions_is_refused(stack: TestStack, s3: S3, proxy: Proxy,
                                                      builds: dict[int, BuildResult], tmp_path: Path) -> None:
    bucket = bucket_of(proxy)
    stack.publish(bucket)
    role_v1 = s3.get(bucket, metadata_key(role_name("tiny"), 1))
    targets_v1 = s3.get(bucket, metadata_key("targets", 1))
    stack.write(stable=2)
    stack.publish(bucket)
    serve(proxy, metadata_key(role_name("tiny"), 2), Answer(body=role_v1))  # v1's role under v2's name
    kept(through(proxy, stack, tmp_path / "a").update(), None, "LengthOrHashMismatchError")
    serve(proxy, metadata_key("snapshot", 2), Answer(body=s3.get(bucket, metadata_key("snapshot", 1))))
    kept(through(proxy, stack, tmp_path / "b").update(), None, "LengthOrHashMismatchError")
    proxy.rules.clear()
    assert through(proxy, stack, tmp_path / "c").update().installed.version == 2  # type: ignore[union-attr]
    assert targets_v1 == s3.get(bucket, metadata_key("targets", 1))  # targets did not change: no v2 of it


def test_metadata_signed_by_an_untrusted_key_installs_nothing(stack: TestStack, s3: S3, proxy: Proxy,
                                                            builds: dict[int, BuildResult], tmp_path: Path) -> None:
    bucket = bucket_of(proxy)
    stack.publish(bucket)
    device = through(proxy, stack, tmp_path)
    assert device.update().installed.version == 1  # type: ignore[union-attr]
    # The attacker runs the real publisher with keys of their own, into the real bucket.
    evil = TestStack(stack.env, "edgeevil").write(stable=2)
    evil.ceremony()
    evil.publish(bucket)
    kept(device.update(), 1, "UnsignedMetadataError")
    # Or keeps the real timestamp and snapshot and swaps in a model role signed with their key.
    stack.publish(bucket)  # the real publisher repairs the repository: every role verifies again
    assert device.update().installed.version == 1  # type: ignore[union-attr]


def test_endless_data_is_cut_at_the_signed_length(stack: TestStack, s3: S3, proxy: Proxy,
                                                 builds: dict[int, BuildResult], tmp_path: Path) -> None:
    bucket = bucket_of(proxy)
    stack.publish(bucket)
    device = through(proxy, stack, tmp_path, deadline_s=60.0)
    start = time.monotonic()
    serve(proxy, "metadata/timestamp.json", Answer(endless=True))
    kept(device.update(), None, "DownloadLengthMismatchError")
    key = next(k for k in s3.keys(bucket, "targets/tiny/1/") if k.endswith(".int8.tflite"))
    serve(proxy, key, Answer(endless=True))
    kept(device.update(), None, "DownloadLengthMismatchError")
    assert time.monotonic() - start < 20
    assert not [p for p in (tmp_path / "tiny").rglob("*") if p.name.startswith((".partial-", "tmp"))]


def test_slow_retrieval_is_bounded_by_one_deadline_not_per_read(stack: TestStack, s3: S3, proxy: Proxy,
                                                               builds: dict[int, BuildResult], tmp_path: Path) -> None:
    bucket = bucket_of(proxy)
    stack.publish(bucket)
    key = next(k for k in s3.keys(bucket, "targets/tiny/1/") if k.endswith(".int8.tflite"))
    serve(proxy, key, Answer(body=s3.get(bucket, key), trickle_s=0.05))  # a byte every 50 ms: hours in all
    device = through(proxy, stack, tmp_path, deadline_s=3.0)
    start = time.monotonic()
    kept(device.update(), None, "SlowRetrievalError", "deadline")
    assert time.monotonic() - start < 6  # each read is short; the whole update is what is bounded
    serve(proxy, "metadata/timestamp.json", Answer(endless=True, trickle_s=0.2))  # endless *and* slow
    start = time.monotonic()
    kept(device.update(), None, "SlowRetrievalError")
    assert time.monotonic() - start < 6


def test_a_hidden_canary_pointer_never_moves_a_canary_device_to_stable(stack: TestStack, s3: S3, proxy: Proxy,
                                                                       builds: dict[int, BuildResult],
                                                                       tmp_path: Path) -> None:
    bucket = bucket_of(proxy)
    stack.write(stable=1, canary=2, percent=100)
    stats = stack.publish(bucket)
    canary_key = next(k for k in stats.uploaded if k.startswith("targets/tiny/channels/") and "canary" in k)
    serve(proxy, canary_key, Answer(status=403, body=b""))
    fresh = through(proxy, stack, tmp_path / "fresh")
    kept(fresh.update(), None, "HTTP 403", channel_path("tiny", "canary").rsplit("/", 1)[-1].split(".")[0])
    proxy.rules.clear()
    device = through(proxy, stack, tmp_path / "dev")
    assert device.update().installed.channel == "canary"  # type: ignore[union-attr]
    stack.write(stable=1, canary=2, percent=90)  # a new canary pointer, hidden from the device
    stats = stack.publish(bucket)
    new_key = next(k for k in stats.uploaded if k.startswith("targets/tiny/channels/"))
    serve(proxy, new_key, Answer(status=403, body=b""))
    result = device.update()
    kept(result, 2, "HTTP 403")
    assert result.installed is not None and result.installed.channel == "canary"


CORRUPTIONS: dict[str, bytes] = {
    "empty": b"",
    "not JSON": b"\x00\xffnot json at all",
    "deeply nested": b"[" * 200_000 + b"]" * 200_000,
    "deeply nested object": b'{"signed":' * 50_000 + b"1" + b"}" * 50_000,
    "an empty object": b"{}",
    "a list": b"[1, 2, 3]",
    "huge number": b'{"signed": {"_type": "timestamp", "version": ' + b"9" * 5000 + b"}, \"signatures\": []}",
    "NaN": b'{"signed": {"version": NaN}, "signatures": []}',
}


def _mutations(good: bytes) -> dict[str, bytes]:
    """Well-formed JSON with one field wrong at a time, from a real document."""
    doc = json.loads(good)
    out = {}
    changes: dict[str, Callable[[dict[str, Any]], object]] = {
        "wrong _type": lambda d: d["signed"].__setitem__("_type", "root"),
        "version as text": lambda d: d["signed"].__setitem__("version", "3"),
        "negative version": lambda d: d["signed"].__setitem__("version", -1),
        "expires garbage": lambda d: d["signed"].__setitem__("expires", "tomorrow"),
        "signatures not a list": lambda d: d.__setitem__("signatures", {"a": 1}),
        "signature garbage": lambda d: [s.__setitem__("sig", "zz") for s in d["signatures"]],
        "spec_version 2.0": lambda d: d["signed"].__setitem__("spec_version", "2.0.0"),
        "no signed": lambda d: d.pop("signed"),
    }
    for name, change in changes.items():
        copy = json.loads(good)
        change(copy)
        out[name] = json.dumps(copy).encode()
    assert doc  # the original parses
    return out


def test_malformed_metadata_of_every_kind_keeps_the_model(stack: TestStack, s3: S3, proxy: Proxy,
                                                         builds: dict[int, BuildResult], tmp_path: Path) -> None:
    bucket = bucket_of(proxy)
    stack.publish(bucket)
    template = tmp_path / "template"
    assert through(proxy, stack, template).update().installed.version == 1  # type: ignore[union-attr]
    shutil.rmtree(template / "tiny" / "metadata")  # each case downloads every file again
    stack.write(stable=2)
    stats = stack.publish(bucket)
    pointer = next(k for k in stats.uploaded if k.startswith("targets/tiny/channels/"))
    files = {"timestamp": "metadata/timestamp.json", "snapshot": metadata_key("snapshot", 2),
             "targets": metadata_key("targets", 1), "model role": metadata_key(role_name("tiny"), 2),
             "next root": metadata_key("root", 2), "channel pointer": pointer}
    tried = 0
    for what, key in files.items():
        good = s3.get(bucket, key) if what != "next root" else stack.root_bytes()
        bad = {**CORRUPTIONS, **(_mutations(good) if what != "channel pointer" else {})}
        for how, body in bad.items():
            store = tmp_path / f"case-{tried}"
            shutil.copytree(template, store)
            serve(proxy, key, Answer(body=body))
            result = through(proxy, stack, store).update()  # never raises
            assert result.status == "kept" and result.installed is not None, (what, how, result)
            assert result.installed.version == 1, (what, how)
            tried += 1
    assert tried >= 6 * len(CORRUPTIONS)
    proxy.rules.clear()
    assert through(proxy, stack, template).update().installed.version == 2  # type: ignore[union-attr]


INSTALL = r"""
import sys, pathlib
sys.path.insert(0, sys.argv[1])
from modelkit.device.client import EdgeClient
root = pathlib.Path(sys.argv[4]).read_bytes()
c = EdgeClient(base_url=sys.argv[2], model="tiny", device_id="d", store=pathlib.Path(sys.argv[3]),
               trusted_root=root, preference=["float32"])
print("started", flush=True)
print(c.update(), flush=True)
"""


def test_an_interrupted_install_leaves_no_partial_file_and_keeps_the_last_good_model(
        stack: TestStack, s3: S3, proxy: Proxy, builds: dict[int, BuildResult], tmp_path: Path) -> None:
    bucket = bucket_of(proxy)
    stack.publish(bucket)
    store = tmp_path / "store"
    root = tmp_path / "root.json"
    root.write_bytes(stack.root_bytes())
    first = EdgeClient(base_url=f"{proxy.url}/edge", model="tiny", device_id="d", store=store,
                       trusted_root=root.read_bytes(), preference=["float32"]).update()
    assert first.installed is not None and first.installed.version == 1
    stack.write(stable=2)
    stats = stack.publish(bucket)
    key = next(k for k in stats.uploaded if k.endswith(".float32.tflite"))
    body = s3.get(bucket, key)
    # Half the file at once, then a trickle: the device is killed while it downloads.
    proxy.rules[:] = [lambda k: Answer(body=body, trickle_s=0.001) if k == key else None]
    proc = subprocess.Popen([sys.executable, "-c", INSTALL, str(REPO), f"{proxy.url}/edge", str(store), str(root)],
                            stdout=subprocess.PIPE, text=True, env={**os.environ})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    deadline = time.monotonic() + 30
    while not any(p.name.startswith(".partial-") for p in (store / "tiny").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    restarted = EdgeClient(base_url=f"{proxy.url}/edge", model="tiny", device_id="d", store=store,
                           trusted_root=root.read_bytes(), preference=["float32"])
    leftovers = [p for p in (store / "tiny").rglob("*") if p.name.startswith((".partial-", "tmp"))]
    assert leftovers == [], leftovers  # cleaned at start
    installed = restarted.installed()
    assert installed is not None and installed.version == 1  # the last known good model, verified again
    proxy.rules.clear()
    assert restarted.update().installed.version == 2  # type: ignore[union-attr]
    models = sorted(p.name for p in (store / "tiny" / "models").iterdir())
    assert len(models) == 2  # the new model and the one before it (a rollback needs no download)


def test_a_tampered_installed_model_is_noticed_and_the_previous_one_used(stack: TestStack, s3: S3, proxy: Proxy,
                                                                        builds: dict[int, BuildResult],
                                                                        tmp_path: Path) -> None:
    bucket = bucket_of(proxy)
    stack.publish(bucket)
    device = through(proxy, stack, tmp_path)
    device.update()
    stack.write(stable=2)
    stack.publish(bucket)
    new = device.update().installed
    assert new is not None and new.version == 2
    # Same size, same mtime: the cheap check of each update cannot see it; installed() (called
    # before loading) and the daily full check of update() can.
    path = Path(new.path)
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    with path.open("r+b") as fh:
        fh.write(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert device.update().status == "unchanged"
    daily = through(proxy, stack, tmp_path, reverify_s=0.0)  # the same store, a day later
    result = daily.update()
    assert result.status == "updated" and result.installed is not None and result.installed.version == 2  # repaired
    path.write_bytes(b"flipped on disk")
    assert device.installed().version == 1  # type: ignore[union-attr]  # re-verified: falls back
    proxy.rules[:] = [lambda k: Answer(status=503, body=b"") if k.startswith("metadata/") else None]
    kept(device.update(), 1, "HTTP 503")
    proxy.rules.clear()
    again = device.update()  # repaired from the repository
    assert again.status == "updated" and again.installed is not None and again.installed.version == 2
    assert Path(again.installed.path).read_bytes() != b"flipped on disk"


def test_a_compromised_targets_key_alone_cannot_reach_devices(stack: TestStack, s3: S3, proxy: Proxy,
                                                             builds: dict[int, BuildResult], tmp_path: Path) -> None:
    """Without the online key the attacker cannot get a snapshot to name their model role."""
    bucket = bucket_of(proxy)
    stack.publish(bucket)
    device = through(proxy, stack, tmp_path)
    assert device.update().installed.version == 1  # type: ignore[union-attr]
    stolen = Metadata.from_bytes(s3.get(bucket, metadata_key(role_name("tiny"), 1)))
    evil_path = next(p for p in stolen.signed.targets if p.endswith("stable.json"))  # type: ignore[attr-defined]
    stolen.signed.targets[evil_path].length += 1  # type: ignore[attr-defined]
    stolen.signed.version += 1
    stolen.sign(signer(stack.keys.targets))  # a valid signature, with the leaked key
    serve(proxy, metadata_key(role_name("tiny"), 1), Answer(body=stolen.to_bytes()))
    device_2 = through(proxy, stack, tmp_path / "2")
    kept(device_2.update(), None, "LengthOrHashMismatchError")
