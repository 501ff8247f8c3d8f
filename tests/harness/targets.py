"""One local HTTP server holding every stand-in scrape target, plus Prometheus file SD.

A target is a path (/t/<id>/metrics) whose page a callable renders at scrape time; when
the callable returns None the endpoint is absent (404), as TF Serving's metrics port is
before the model loads and after the process exits: Prometheus records the scrape as
failed (`up` 0) and marks the target's series stale, exactly as for a refused connection.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import os
from pathlib import Path
import sys
import threading

Render = Callable[[], "str | None"]


@dataclass(frozen=True)
class Target:
    job: str  # the scrape job it belongs to
    id: str
    labels: Mapping[str, str]  # target labels (file SD), may include __meta_* for relabeling


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # A scraper that went away mid-response (a test stops Prometheus on purpose) is
        # not an error of the target; anything else still is.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class TargetServer:
    def __init__(self, sd_dir: Path) -> None:
        self.sd_dir = sd_dir
        self._renders: dict[str, Render] = {}
        self._targets: dict[str, Target] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = self.path.split("/")
                render = server._renders.get(parts[2]) if len(parts) == 4 and parts[1] == "t" else None
                body = render() if render is not None else None
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.address = f"127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def sd_file(self, job: str) -> Path:
        return self.sd_dir / f"{job.replace('/', '_')}.json"

    def put(self, target: Target, render: Render) -> None:
        """Add or replace a target; its job's SD file is rewritten (Prometheus watches it)."""
        with self._lock:
            self._renders[target.id] = render
            self._targets[target.id] = target
            self._write(target.job)

    def remove(self, target_id: str) -> None:
        with self._lock:
            target = self._targets.pop(target_id, None)
            self._renders.pop(target_id, None)
            if target is not None:
                self._write(target.job)

    def _write(self, job: str) -> None:
        groups = [{"targets": [self.address],
                   "labels": {**t.labels, "__metrics_path__": f"/t/{t.id}/metrics"}}
                  for t in sorted(self._targets.values(), key=lambda t: t.id) if t.job == job]
        path = self.sd_file(job)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(groups, indent=1))
        os.replace(tmp, path)  # atomic: Prometheus never reads half a file
