"""Run a training job's workers as local processes, with exactly the environment its JobSet
gives each pod: the JobSet's hostnames mapped to free local ports, each worker's index put
where JobSet's annotation would be, and `$(VAR)` references resolved as the kubelet does.

For validating a recipe on one machine before the cluster, and for the tests and benchmarks
of the distributed run. Workers print JSON event lines (see tests/tf/train_tiny.py); `events`
collects them as they come.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from infra.plan.training.job import JobPlan, container_env
from infra.rules import distribution as d


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def worker_envs(job: JobPlan, extra: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """One environment per worker: the JobSet pod's, on local ports."""
    ports = free_ports(job.workers)
    local = {h: f"127.0.0.1:{p}" for h, p in zip(job.hosts, ports, strict=True)}
    env = container_env(job, address_of=local)
    out = []
    for i in range(job.workers):
        fields = {d.JOB_INDEX_ANNOTATION: str(i // job.pods_per_job),
                  d.COMPLETION_INDEX_ANNOTATION: str(i % job.pods_per_job)}
        out.append({**d.expand(env, fields), **(extra or {})})
    return out


@dataclass
class LocalRun:
    """The workers of one run; `start` launches all of them, as JobSet (re)creates all pods."""

    job: JobPlan
    argv: Sequence[str]  # the entry point, run with this Python
    extra_env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    generation: int = 0  # how many times start() ran; every event carries the one it came from
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> float:
        """Launch every worker (fresh ports); returns the monotonic launch time."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("TFPLAT_", "TF_CONFIG"))}
        started = time.monotonic()
        self.procs = []
        self.generation += 1
        for env in worker_envs(self.job, self.extra_env):
            proc = subprocess.Popen([sys.executable, *self.argv], env={**base, **env}, cwd=self.cwd,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            threading.Thread(target=self._read, args=(proc, self.generation), daemon=True).start()
            self.procs.append(proc)
        return started

    def _read(self, proc: subprocess.Popen[str], generation: int) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                event = {**json.loads(line), "generation": generation}
            except (ValueError, TypeError):
                continue
            with self._lock:
                self.events.append(event)

    def wait_for(self, predicate: Any, timeout_s: float) -> dict[str, Any]:
        """The first event matching `predicate`; raises TimeoutError (workers left running)."""
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            with self._lock:
                fresh = self.events[seen:]
                seen = len(self.events)
            for e in fresh:
                if predicate(e):
                    return e
            if all(p.poll() is not None for p in self.procs) and seen == len(self.events):
                break
            time.sleep(0.05)
        raise TimeoutError(f"no matching event within {timeout_s}s; exit codes {[p.poll() for p in self.procs]}")

    def kill(self, worker: int | None = None) -> None:
        """SIGKILL one worker (a node lost), or every worker (JobSet deleting the pods)."""
        for i, p in enumerate(self.procs):
            if worker is None or i == worker:
                p.kill()
                p.wait()

    def wait(self, timeout_s: float) -> list[int]:
        codes = []
        for p in self.procs:
            codes.append(p.wait(timeout=timeout_s))
        return codes
