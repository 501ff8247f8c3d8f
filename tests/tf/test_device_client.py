"""The device client runs with the standard library, python-tuf, securesystemslib and cryptography alone."""

from __future__ import annotations

import json
from pathlib import Path
import shutil
import subprocess
import sys

from conftest import REPO, S3
from edgekit import TestStack

# Runs the copied client package with an import hook that refuses everything a device lacks.
SCRIPT = r"""
import importlib.abc, json, pathlib, sys
BLOCKED = ("tensorflow", "numpy", "boto3", "botocore", "modelkit", "infra", "keras", "tqdm", "yaml", "ruamel",
           "jsonschema", "moto", "google")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not available on a device")
        return None
sys.meta_path.insert(0, Block())
sys.path.insert(0, sys.argv[1])
from edgedevice.client import EdgeClient
args = json.loads(sys.argv[2])
c = EdgeClient(base_url=args["base_url"], model="tiny", device_id="dev-7", store=pathlib.Path(args["store"]),
               trusted_root=pathlib.Path(args["root"]).read_bytes(), preference=["float16", "float32"])
r = c.update()
loaded = sorted({m.split(".")[0] for m in sys.modules})
print(json.dumps({"status": r.status, "error": r.error, "version": r.installed and r.installed.version,
                  "variant": r.installed and r.installed.variant, "modules": loaded}))
"""


def test_the_client_package_alone_updates_a_device(edge_stack: TestStack, s3: S3, builds: object,
                                                   tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    edge_stack.write(stable=1).publish(bucket)
    package = tmp_path / "lib" / "edgedevice"
    shutil.copytree(REPO / "modelkit" / "device", package, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "root.json").write_bytes(edge_stack.root_bytes())
    args = {"base_url": f"{s3.endpoint}/{bucket}/edge", "store": str(tmp_path / "store"),
            "root": str(tmp_path / "root.json")}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "lib"), json.dumps(args)],
                         capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(out.stdout)
    assert (result["status"], result["error"], result["version"], result["variant"]) == ("updated", None, 1, "float16")
    assert {"tuf", "securesystemslib", "cryptography"} <= set(result["modules"])
    assert not {"tensorflow", "numpy", "boto3", "modelkit", "google"} & set(result["modules"])
