"""Resolve image tags to registry digests and pin them in images/versions.yaml.

Talks the OCI distribution API directly (HEAD /v2/<name>/manifests/<tag>), with the
anonymous bearer-token flow that Docker Hub, ghcr.io, nvcr.io and public ECR use, so it
needs no Docker engine. The digest pinned is the one the registry serves for the tag's
index (multi-arch) or manifest: what a kubelet resolves for that tag.
"""

from __future__ import annotations

from dataclasses import dataclass
import io
import json
from pathlib import Path
import re
import urllib.error
import urllib.parse
import urllib.request

from infra import atomic, bounded_yaml
from infra.rules.images import VERSIONS_FILE

ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class PinError(RuntimeError):
    pass


@dataclass(frozen=True)
class Pinned:
    key: str
    ref: str
    digest: str
    changed: bool


def _split(repository: str) -> tuple[str, str, str]:
    """(scheme, registry host, repository path) for a reference without tag."""
    first, _, rest = repository.partition("/")
    if "." not in first and ":" not in first and first != "localhost":
        first, rest = "docker.io", repository
    if first == "docker.io":
        host = "registry-1.docker.io"
        rest = rest if "/" in rest else f"library/{rest}"
    else:
        host = first
    local = host.split(":")[0] in ("localhost", "127.0.0.1")
    return ("http" if local else "https"), host, rest


def _token(challenge: str, timeout: float) -> str:
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    realm = params.pop("realm", None)
    if not challenge.lower().startswith("bearer") or not realm:
        raise PinError(f"unsupported registry auth challenge: {challenge}")
    url = f"{realm}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        body = json.loads(resp.read())
    token = body.get("token") or body.get("access_token")
    if not token:
        raise PinError(f"no token from {realm}")
    return str(token)


def resolve_digest(repository: str, tag: str, *, timeout: float = 20.0) -> str:
    scheme, host, name = _split(repository)
    url = f"{scheme}://{host}/v2/{name}/manifests/{tag}"
    headers = {"Accept": ACCEPT}
    for attempt in range(2):
        req = urllib.request.Request(url, method="HEAD", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                digest = str(resp.headers.get("Docker-Content-Digest", ""))
                if DIGEST.match(digest):
                    return digest
                raise PinError(f"{repository}:{tag}: the registry sent no digest header")
        except urllib.error.HTTPError as err:
            if err.code == 401 and attempt == 0:
                headers["Authorization"] = f"Bearer {_token(err.headers.get('WWW-Authenticate', ''), timeout)}"
                continue
            if err.code == 404:
                raise PinError(f"{repository}:{tag} does not exist in {host}") from None
            raise PinError(f"{repository}:{tag}: registry answered HTTP {err.code}") from None
        except urllib.error.URLError as err:
            raise PinError(f"{repository}:{tag}: cannot reach {host} ({err.reason})") from None
    raise PinError(f"{repository}:{tag}: authentication failed")


def pin(path: Path = VERSIONS_FILE, *, only: set[str] | None = None, write: bool = True) -> list[Pinned]:
    """Fill or refresh the digest of every image with a repository and tag; keep comments."""
    yaml = bounded_yaml.loader("rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    doc = bounded_yaml.load(bounded_yaml.read_text(path, str(path)), str(path), yaml)
    results = []
    for key, entry in doc["images"].items():
        if (only and key not in only) or not entry.get("repository") or not entry.get("tag"):
            continue
        digest = resolve_digest(str(entry["repository"]), str(entry["tag"]))
        changed = entry.get("digest") != digest
        entry["digest"] = digest
        results.append(Pinned(key, f"{entry['repository']}:{entry['tag']}", digest, changed))
    if write and any(r.changed for r in results):
        out = io.StringIO()
        yaml.dump(doc, out)
        atomic.write_text(path, out.getvalue())
    return results
