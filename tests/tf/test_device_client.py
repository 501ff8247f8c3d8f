"""The device client runs with the standard library and cryptography alone."""

from __future__ import annotations

import json
from pathlib import Path
import shutil
import subprocess
import sys

from conftest import REPO, S3, Env, run_publish, write_stack

# Runs the copied client file with an import hook that refuses everything a device lacks.
SCRIPT = r"""
import importlib.abc, json, sys
BLOCKED = ("tensorflow", "numpy", "boto3", "botocore", "modelkit", "infra", "keras", "tqdm", "yaml", "ruamel")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not available on a device")
        return None
sys.meta_path.insert(0, Block())
sys.path.insert(0, sys.argv[1])
import client
args = json.loads(sys.argv[2])
c = client.EdgeClient(base_url=args["base_url"], model="tiny", device_id="dev-7",
                      store=__import__("pathlib").Path(args["store"]), trusted_keys=args["keys"],
                      preference=["float16", "float32"])
r = c.update()
loaded = sorted(m.split(".")[0] for m in sys.modules)
print(json.dumps({"status": r.status, "error": r.error, "version": r.installed and r.installed.version,
                  "variant": r.installed and r.installed.variant, "modules": loaded}))
"""


def test_client_file_alone_updates_a_device(env: Env, s3: S3, builds: object, tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    write_stack(env, stable=1)
    run_publish(env, bucket)
    shutil.copy(REPO / "modelkit" / "device" / "client.py", tmp_path / "client.py")
    args = {"base_url": f"{s3.endpoint}/{bucket}/edge", "store": str(tmp_path / "store"),
            "keys": {env.key_id: env.key.public_b64}}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), json.dumps(args)],
                         capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(out.stdout)
    assert (result["status"], result["error"], result["version"], result["variant"]) == ("updated", None, 1, "float16")
    assert not {"tensorflow", "numpy", "boto3", "modelkit"} & set(result["modules"])
