"""Where `edge build` writes, shared with `edge publish` (which must not import TensorFlow/numpy)."""

from __future__ import annotations

from pathlib import Path

MANIFEST_FILE = "manifest.json"
REPORT_FILE = "report.json"
DEFAULT_BUILD_ROOT = "build/edge"


def version_dir(out: Path, model: str, version: int) -> Path:
    """<out>/<model>/<version>: variants/<variant>.tflite, manifest.json, report.json."""
    return out / model / str(version)
