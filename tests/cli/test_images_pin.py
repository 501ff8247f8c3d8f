"""`tfplat images pin` against a real OCI registry (Debian's docker-registry) over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
import hashlib
import json
from pathlib import Path
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

from infra.images_pin import PinError, pin, resolve_digest

REGISTRY = shutil.which("docker-registry")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if REGISTRY is None:
        pytest.fail("docker-registry is not installed: apt-get install docker-registry (.ci/run does)")
    root = tmp_path_factory.mktemp("registry")
    port = _free_port()
    config = root / "config.yml"
    config.write_text(json.dumps({
        "version": 0.1, "log": {"level": "error"},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
        "http": {"addr": f"127.0.0.1:{port}"}}))
    proc = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{base}/v2/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _push(host: str, name: str, tag: str, payload: bytes) -> str:
    """Upload a config blob and one layer, then a schema-2 manifest; return its digest."""
    base = f"http://{host}/v2/{name}"
    descriptors = []
    for blob, media in ((b'{"architecture":"amd64","os":"linux"}', "application/vnd.docker.container.image.v1+json"),
                        (payload, "application/vnd.docker.image.rootfs.diff.tar.gzip")):
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        start = urllib.request.urlopen(urllib.request.Request(f"{base}/blobs/uploads/", method="POST", data=b""))
        location = start.headers["Location"]
        sep = "&" if "?" in location else "?"
        url = location if location.startswith("http") else f"http://{host}{location}"
        urllib.request.urlopen(urllib.request.Request(f"{url}{sep}digest={digest}", method="PUT", data=blob,
                                                      headers={"Content-Type": "application/octet-stream"}))
        descriptors.append({"mediaType": media, "size": len(blob), "digest": digest})
    manifest = json.dumps({"schemaVersion": 2,
                           "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "config": descriptors[0], "layers": descriptors[1:]}).encode()
    urllib.request.urlopen(urllib.request.Request(
        f"{base}/manifests/{tag}", method="PUT", data=manifest,
        headers={"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"}))
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


def test_resolves_the_digest_of_the_exact_manifest(registry: str) -> None:
    expected = _push(registry, "team/serving", "2.19.1", b"layer-one")
    assert resolve_digest(f"{registry}/team/serving", "2.19.1") == expected


def test_pin_writes_digests_and_keeps_comments(registry: str, tmp_path: Path) -> None:
    first = _push(registry, "team/tool", "1.0", b"first")
    path = tmp_path / "versions.yaml"
    path.write_text(f"""# pins
images:
  tool:  # a tool
    repository: {registry}/team/tool
    tag: "1.0"
    digest: null
  unpinned:
    repository: null
    tag: null
    digest: null
""")
    results = pin(path)
    assert [(r.key, r.digest, r.changed) for r in results] == [("tool", first, True)]
    text = path.read_text()
    assert f'digest: {first}' in text and "# a tool" in text and text.startswith("# pins")
    assert [r.changed for r in pin(path)] == [False]  # idempotent

    second = _push(registry, "team/tool", "1.0", b"re-pushed tag")  # the tag moved
    check = pin(path, write=False)
    assert check[0].changed and check[0].digest == second and first in path.read_text()


def test_missing_tag_and_unreachable_registry_are_clear(registry: str) -> None:
    with pytest.raises(PinError, match=r"team/none:9 does not exist"):
        resolve_digest(f"{registry}/team/none", "9")
    with pytest.raises(PinError, match=r"cannot reach 127\.0\.0\.1:9"):
        resolve_digest("127.0.0.1:9/x/y", "1", timeout=2)
