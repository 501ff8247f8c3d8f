"""Hostile-YAML benchmark: how fast and how small `tfplat validate` refuses each attack.

For each case (deep nesting, alias expansion, an oversized file, and the worst files that
still pass the limits) a fresh `python -m infra.cli validate` runs on a copy of the config
with the hostile file in models/; prints wall time, peak RSS of the child and its exit
status. The limits are in infra/bounded_yaml.py; the target (issue 12): each refusal in
about a second, memory bounded.

    python bench/yaml_bench.py
"""

from __future__ import annotations

import os
from pathlib import Path
import resource
import shutil
import subprocess
import sys
import tempfile
import time

REPO = Path(__file__).resolve().parents[1]
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != (REPO / ".venv").resolve():
    # `python bench/yaml_bench.py` from any Python: run in the project's venv.
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), __file__, *sys.argv[1:]])
sys.path.insert(0, str(REPO))

from infra import bounded_yaml  # noqa: E402  (after the path set-up above)


def _cases() -> dict[str, str]:
    laughs = ["lol0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    laughs += [f"lol{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    flow = "[" * (bounded_yaml.MAX_DEPTH - 1) + "]" * (bounded_yaml.MAX_DEPTH - 1)
    budget = bounded_yaml.MAX_BYTES - 1024
    return {
        "nesting 5,000 deep (flow)": "x: " + "[" * 5000 + "]" * 5000 + "\n",
        "nesting 300 deep (block)": "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "v\n",
        "billion laughs (10^10 nodes)": "".join(f"{line}\n" for line in laughs),
        "10 MB file": "x: " + "a" * 10_000_000 + "\n",
        "worst within size: flat keys": "".join(f"k{i}: v{i}\n" for i in range(budget // 12))[:budget] + "\n",
        "worst within depth: flow lines": "".join(f"k{i}: {flow}\n" for i in range(budget // (len(flow) + 8))),
    }


def main() -> int:
    python = Path(sys.executable)
    print(f"limits: {bounded_yaml.MAX_BYTES // 1024} KiB, {bounded_yaml.MAX_DEPTH} levels, "
          f"{bounded_yaml.MAX_NODES:,} nodes (aliases expanded)\n")
    print(f"{'case':<34} {'bytes':>10} {'exit':>4} {'wall s':>7} {'peak MB':>8}")
    with tempfile.TemporaryDirectory(prefix="tfplat-yaml-bench-") as tmp:
        base = Path(tmp) / "root"
        for name in ("models", "stacks"):
            shutil.copytree(REPO / name, base / name, ignore=shutil.ignore_patterns("samples"))
        shutil.copy(REPO / "Pulumi.yaml", base / "Pulumi.yaml")
        env = {**os.environ, "TFPLAT_ROOT": str(base), "PYTHONPATH": str(REPO)}
        start = time.perf_counter()
        subprocess.run([str(python), "-m", "infra.cli", "validate", "--stack", "dev"], env=env, check=True,
                       capture_output=True)
        print(f"{'(baseline: valid config)':<34} {'':>10} {0:>4} {time.perf_counter() - start:>7.2f}")
        for name, text in _cases().items():
            evil = base / "models" / "evil.yaml"
            evil.write_text(text)
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            start = time.perf_counter()
            proc = subprocess.run([str(python), "-m", "infra.cli", "validate", "--stack", "dev"], env=env,
                                  capture_output=True, text=True, timeout=600, check=False)
            wall = time.perf_counter() - start
            peak = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
            print(f"{name:<34} {len(text):>10,} {proc.returncode:>4} {wall:>7.2f} {peak:>8.0f}")
            evil.unlink()
    print("\n(wall time includes starting Python and importing the loader, the baseline's cost; peak MB is the "
          "largest child so far)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
