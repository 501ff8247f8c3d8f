"""A stand-in for the Kubernetes API server at the HTTP level, for `tfplat train`'s real
Kubernetes client: there is no API server binary on this machine (no kube-apiserver, etcd or
envtest package in the registries reachable here), so the tests serve the few REST paths the
command uses, as the API server does: create and list JobSets, list Kueue Workloads.

It stores objects as given (adding uid and creationTimestamp), refuses a duplicate name with
409 AlreadyExists, and filters lists by labelSelector (equality terms, as the client sends).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
from pathlib import Path
import re
import threading
from typing import Any
from urllib.parse import parse_qs, urlparse
import uuid

PATH = re.compile(r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)$")


@dataclass
class FakeCluster:
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)  # (plural, ns, name)
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""

    def add(self, plural: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        meta.setdefault("uid", str(uuid.uuid4()))
        self.objects[(plural, meta["namespace"], meta["name"])] = obj

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}]}))
        return path


def _matches(obj: dict[str, Any], selector: str) -> bool:
    labels = obj["metadata"].get("labels") or {}
    terms = [t for t in selector.split(",") if t]
    return all(labels.get(k) == v for k, _, v in (t.partition("=") for t in terms))


def _handler(cluster: FakeCluster) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _status(self, code: int, reason: str, message: str) -> None:
            self._send(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
                              "reason": reason, "message": message})

        def do_POST(self) -> None:
            url = urlparse(self.path)
            cluster.requests.append(("POST", url.path))
            m = PATH.match(url.path)
            if m is None:
                return self._status(404, "NotFound", f"no route {url.path}")
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            key = (m["plural"], m["ns"], body["metadata"]["name"])
            if key in cluster.objects:
                return self._status(409, "AlreadyExists", f'{m["plural"]} "{key[2]}" already exists')
            body["metadata"].setdefault("namespace", m["ns"])
            cluster.add(m["plural"], body)
            return self._send(201, body)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            cluster.requests.append(("GET", url.path))
            m = PATH.match(url.path)
            if m is None:
                return self._status(404, "NotFound", f"no route {url.path}")
            selector = parse_qs(url.query).get("labelSelector", [""])[0]
            items = [o for (plural, ns, _), o in sorted(cluster.objects.items())
                     if plural == m["plural"] and ns == m["ns"] and _matches(o, selector)]
            return self._send(200, {"apiVersion": f"{m['group']}/{m['version']}", "kind": "List", "items": items,
                                    "metadata": {"resourceVersion": "1"}})

    return Handler


@contextmanager
def fake_cluster() -> Iterator[FakeCluster]:
    cluster = FakeCluster()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(cluster))
    cluster.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield cluster
    finally:
        server.shutdown()
        server.server_close()
