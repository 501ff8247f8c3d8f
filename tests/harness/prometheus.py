"""A real Prometheus server (the `prometheus` binary of the Debian package) for tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
import json
from pathlib import Path
import shutil
import socket
import subprocess
import time
from typing import Any
import urllib.parse
import urllib.request

import yaml


class PrometheusMissingError(RuntimeError):
    pass


def binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        raise PrometheusMissingError("the prometheus server is needed (`make setup` installs the Debian package "
                                     "`prometheus`; elsewhere: apt-get install prometheus)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrometheusServer:
    def __init__(self, workdir: Path, *, scrape_configs: Sequence[dict[str, Any]],
                 rule_groups: Sequence[dict[str, Any]], scrape_interval: str, evaluation_interval: str,
                 lookback_delta: str) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (workdir / "rules.yaml").write_text(yaml.safe_dump({"groups": list(rule_groups)}, width=1000))
        config = {"global": {"scrape_interval": scrape_interval, "scrape_timeout": scrape_interval,
                             "evaluation_interval": evaluation_interval},
                  "rule_files": [str(workdir / "rules.yaml")], "scrape_configs": list(scrape_configs)}
        (workdir / "prometheus.yaml").write_text(yaml.safe_dump(config, width=1000))
        self._args = [binary(), f"--config.file={workdir / 'prometheus.yaml'}",
                      f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
                      f"--query.lookback-delta={lookback_delta}", "--log.level=warn"]
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60) -> None:
        log = (self.workdir / "prometheus.log").open("wb")
        self._proc = subprocess.Popen(self._args, stdout=log, stderr=subprocess.STDOUT)
        self.wait_for(self._ready, timeout_s, "prometheus ready")

    def _ready(self) -> bool:
        assert self._proc is not None
        if self._proc.poll() is not None:
            raise RuntimeError("prometheus exited: " + (self.workdir / "prometheus.log").read_text()[-2000:])
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=15) as resp:
            doc = json.load(resp)
        if doc.get("status") != "success":
            raise RuntimeError(f"{path}: {doc}")
        return doc["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant vector result of `expr` now: [{"metric": {...}, "value": [t, "v"]}]."""
        data = self._get("/api/v1/query", {"query": expr})
        if data["resultType"] != "vector":
            raise RuntimeError(f"{expr}: expected a vector, got {data['resultType']}")
        return list(data["result"])

    def samples(self, expr: str) -> list[dict[str, Any]]:
        """Raw samples of a range selector now: [{"metric": {...}, "values": [[t, "v"], ...]}]."""
        data = self._get("/api/v1/query", {"query": expr})
        if data["resultType"] != "matrix":
            raise RuntimeError(f"{expr}: expected a matrix, got {data['resultType']}")
        return list(data["result"])

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts (pending and firing) as Prometheus reports them."""
        return list(self._get("/api/v1/alerts")["alerts"])

    def targets_up(self, job: str) -> int:
        return sum(1 for t in self._get("/api/v1/targets")["activeTargets"]
                   if t["labels"].get("job") == job and t["health"] == "up")

    @staticmethod
    def wait_for(check: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.25) -> float:
        """Polls `check` until true; returns the seconds it took. Never a fixed sleep."""
        start = time.monotonic()
        while True:
            if check():
                return time.monotonic() - start
            if time.monotonic() - start > timeout_s:
                raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
            time.sleep(poll_s)
