"""Offline-plan benchmark: stacks of 1, 10 and 100 synthetic models (--sizes 10 100 1000 for a
large fleet; one stack plans at most 1,000, docs/fleet-size.md).

For each size, in a fresh subprocess (so peak memory is that run's own):
  - the full offline plan (load + validate config, plan, the program under the mock
    engine, render, schema-validate every manifest, write build/),
  - floor A: registering the same number of bare resources (empty inputs) under the
    mock engine;
  - floor B: registering the same number of bare resources carrying exactly the inputs
    the plan registered (the engine's own cost for this data, no program around it).
Pulumi's SDK serializes inputs property by property, so its cost grows with input size:
a Deployment costs ~4x an empty resource before any code of ours runs. Floor B isolates
our overhead (config, planning, validation, writing) from that.
Prints wall time, peak RSS, time per registered resource and the ratios to both floors.
Targets (issues 3 and 15), each printed as met or missed: per-resource cost <= 2x floor B at
100 and 1,000 models; 100 and 1,000 models < 60 s and < 1 GB on 2 cores; peak memory growing
linearly with the models. For smaller stacks it prints the fixed overhead (the plan's time
beyond floor B, charts aside) that every pull request pays.
Rendering and validating the Helm charts is a per-stack cost (the same few releases whatever
the number of models): its own column, left out of the per-resource ratios.

`--charts` instead plans each shipped stack in a fresh process (cold helm and CRD caches)
and prints, per stack, the objects rendered, the time each phase took (what rendering adds
to a plan), and the checkov scan's findings and waivers by check.

    python bench/plan_bench.py [--sizes 1 10 100] [--repeat 3]   (cases run in .venv)
    python bench/plan_bench.py --charts [--stacks dev prod]
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import os
from pathlib import Path
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = Path(__file__).resolve().parents[1]
IMPORTS = ("pulumi_gcp.compute", "pulumi_gcp.container", "pulumi_gcp.kms", "pulumi_gcp.serviceaccount",
           "pulumi_gcp.projects", "pulumi_gcp.storage", "pulumi_gcp.organizations", "pulumi_random",
           "pulumi_kubernetes.core.v1", "pulumi_kubernetes.apps.v1", "pulumi_kubernetes.helm.v3",
           "pulumi_kubernetes.apiextensions", "pulumi_kubernetes.networking.v1", "pulumi_kubernetes.policy.v1",
           "pulumi_kubernetes.autoscaling.v2", "pulumi_gcp.binaryauthorization", "pulumi_kubernetes.storage.v1",
           "pulumi_kubernetes.admissionregistration.v1")


def _model_yaml(i: int) -> str:
    kind = "gpu" if i % 3 == 0 else "cpu"
    acc = "kind: gpu\n    type: nvidia-l4\n    count: 1" if kind == "gpu" else "kind: cpu"
    return f"""name: m{i:05d}
owner: bench
artifact:
  prefix: bench/m{i:05d}
signature:
  inputs:
    x: {{dtype: float32, shape: [-1, 16]}}
  outputs:
    y: {{dtype: float32, shape: [-1, 1]}}
serving:
  accelerator:
    {acc}
  resources:
    cpu: "1"
    memory: 2Gi
  autoscaling:
    min_replicas: 2    # the synthetic stack is prod: the policies want 2 or more
    max_replicas: 4
"""


def _tag_only(n: int) -> str:
    """The synthetic stack is prod: its serving images run by digest or are waived."""
    from infra.rules.images import image, serving_image_key

    kinds = {"gpu" if i % 3 == 0 else "cpu" for i in range(n)}
    refs = sorted(img.ref for k in kinds if (img := image(serving_image_key(k))) and not img.digest)
    return "".join(f'      "{ref}": "bench: the versions file pins no digest yet"\n' for ref in refs)


def _stack_yaml(n: int) -> str:
    models = "\n".join(
        f"    m{i:05d}:\n      blue: {i + 1}\n      green: {i + 2}\n      live: blue\n      canary_percent: 10"
        if i % 2 else f"    m{i:05d}:\n      blue: {i + 1}\n      live: blue" for i in range(n))
    # Pools grow with the fleet (the capacity checks want room for every minimum replica):
    # two pods of one CPU per model and color, two L4s per GPU model and color, four per node.
    cpu_nodes, gpu_nodes = min(1000, max(50, n // 2)), min(1000, max(30, n // 3))
    waivers = _tag_only(n)
    return f"""config:
  tfplat:environment: prod
  tfplat:cloud: gcp
  tfplat:region: us-central1
  tfplat:gcp:
    project: bench-project
  tfplat:cluster:
    version: "1.34"
    endpoint: {{access: dns}}
  tfplat:node_pools:
    system: {{role: system, machine_type: e2-standard-4, min_nodes: 1, max_nodes: 3}}
    cpu: {{machine_type: n2-standard-8, min_nodes: 1, max_nodes: {cpu_nodes}}}
    l4: {{accelerator: {{type: nvidia-l4, count: 4}}, min_nodes: 0, max_nodes: {gpu_nodes}}}
  tfplat:serving:
    gateway: {{tls_secret: bench-tls}}
  tfplat:admission:
    tag_only:{" {}" if not waivers else ""}
{waivers}  tfplat:models:
{models}
"""


def make_root(n: int, where: Path) -> Path:
    root = where / f"bench-{n}"
    (root / "models").mkdir(parents=True)
    (root / "stacks").mkdir()
    shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
    for i in range(n):
        (root / "models" / f"m{i:05d}.yaml").write_text(_model_yaml(i))
    (root / "stacks" / "Pulumi.bench.yaml").write_text(_stack_yaml(n))
    return root


def run_case(root: Path) -> dict[str, float]:
    """In this process: one offline plan, then the bare floor for the same count."""
    import pulumi

    from infra.offline import engine
    from infra.offline.plan import offline_plan

    # The provider SDKs' package imports are a one-time cost per process (importing
    # pulumi_gcp.compute alone loads hundreds of modules); measured on their own so the
    # per-resource figure is the steady-state cost of the plan.
    start = time.perf_counter()
    for module in IMPORTS:
        getattr(importlib.import_module(module), "__all__", None)  # the SDKs import lazily: load it for real
    import_s = time.perf_counter() - start
    start = time.perf_counter()
    outcome = offline_plan(root, "bench", root / "build")
    plan_s = time.perf_counter() - start
    count = len(outcome.result.records)

    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    inputs = [dict(r.inputs) for r in outcome.result.records]

    def bare_empty() -> None:
        for i in range(count):
            pulumi.CustomResource("bench:index:Bare", f"r{i}", {})

    def bare_same() -> None:
        for i, props in enumerate(inputs):
            pulumi.CustomResource("bench:index:Bare", f"r{i}", props)

    floors = []
    for fn in (bare_empty, bare_same):
        start = time.perf_counter()
        floor = engine.run(fn, project="tfplat", stack="bench", config={})
        floors.append(time.perf_counter() - start)
        assert len(floor.records) == count
    charts_s = outcome.timings["charts"] + outcome.timings["validate-charts"]
    return {"resources": count, "plan_s": plan_s, "import_s": import_s, "floor_a_s": floors[0],
            "floor_b_s": floors[1], "peak_mb": peak_kb / 1024, "charts_s": charts_s}


def chart_case(stack: str) -> dict[str, object]:
    """One shipped stack, planned and scanned in this (fresh) process."""
    from infra.offline.plan import offline_plan

    with tempfile.TemporaryDirectory(prefix="tfplat-bench-") as tmp:
        start = time.perf_counter()
        outcome = offline_plan(REPO, stack, Path(tmp), scan=True)
        total = time.perf_counter() - start
    assert outcome.scan is not None
    return {"stack": stack, "releases": len(outcome.charts.rendered), "unrendered": outcome.charts.unrendered,
            "objects": sum(len(r.objects) for r in outcome.charts.rendered),
            "own": sum(1 for f in outcome.files if f.startswith("manifests/")), "total_s": total,
            "timings": outcome.timings, "findings": len(outcome.scan.findings),
            "waivers": outcome.scan.waivers_by_check()}


def chart_report(stacks: list[str]) -> int:
    print(f"{'stack':<9} {'releases':>8} {'objects':>7} {'own':>4} {'program s':>9} {'render s':>8} "
          f"{'validate s':>10} {'write s':>7} {'scan s':>6} {'plan s':>6} {'added':>6} {'findings':>8}")
    waivers: dict[str, dict[str, int]] = {}
    for stack in stacks:
        proc = subprocess.run([str(_python()), __file__, "--chart-case", stack], capture_output=True, text=True,
                              check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        if r["unrendered"]:  # figures without the charts would measure something else
            print(f"error: {stack}: releases not rendered, no chart source: {'; '.join(r['unrendered'])}\n"
                  "    fix: set TFPLAT_CHART_MIRROR to a folder of chart archives (make uses ../shared/charts)",
                  file=sys.stderr)
            return 2
        t = r["timings"]
        added = t["charts"] + t["validate-charts"]
        without = sum(v for k, v in t.items() if k not in ("charts", "validate-charts", "scan"))
        print(f"{stack:<9} {r['releases']:>8} {r['objects']:>7} {r['own']:>4} {t['program']:>9.2f} "
              f"{t['charts']:>8.2f} {t['validate'] + t['validate-charts']:>10.2f} {t['write']:>7.2f} "
              f"{t['scan']:>6.2f} {r['total_s']:>6.2f} {added / without:>5.1f}x {r['findings']:>8}")
        waivers[stack] = r["waivers"]
    print("\nadded = (helm render + validating the rendered objects) / the plan without charts or scan")
    print("waivers by check (checkov.io/skip annotations honoured by checkov):")
    for stack, by_check in waivers.items():
        print(f"  {stack}: " + ", ".join(f"{k} {v}" for k, v in by_check.items()))
    return 0


def _python() -> Path:
    """The project's venv runs each case (the plan needs its packages), whichever Python
    started the benchmark: `python bench/plan_bench.py` works as the README writes it."""
    venv = REPO / ".venv" / "bin" / "python"
    return venv if venv.exists() else Path(sys.executable)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (median reported)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--chart-case", help=argparse.SUPPRESS)
    parser.add_argument("--charts", action="store_true", help="per shipped stack: charts rendered, time, scan")
    parser.add_argument("--stacks", nargs="+", default=["dev", "staging", "prod", "prod-aws"])
    args = parser.parse_args()
    if args.case:
        from infra.config.errors import ConfigError

        try:
            print(json.dumps(run_case(Path(args.case))))
        except ConfigError as err:  # the synthetic config no longer passes the checks: say which
            print(err.render(), file=sys.stderr)
            return 2
        return 0
    if args.chart_case:
        print(json.dumps(chart_case(args.chart_case)))
        return 0
    if args.charts:
        return chart_report(args.stacks)

    print(f"{'models':>6} {'resources':>9} {'imports s':>9} {'plan s':>7} {'charts s':>8} {'ms/res':>7} "
          f"{'A ms/res':>9} {'x A':>5} {'B ms/res':>9} {'x B':>5} {'peak MB':>8}")
    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="tfplat-bench-") as tmp:
        for n in args.sizes:
            root = make_root(n, Path(tmp))
            runs = []
            for _ in range(args.repeat):
                env = {**os.environ, "TFPLAT_ROOT": str(root), "PYTHONPATH": str(REPO)}
                proc = subprocess.run([str(_python()), __file__, "--case", str(root)], env=env,
                                      capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    # The child's own message (a config error, a missing validator, a crash) is
                    # the useful part; a CalledProcessError traceback would hide it.
                    sys.stderr.write(proc.stderr)
                    print(f"error: the {n}-model plan failed (exit {proc.returncode}); its output is above.\n"
                          "    fix: run `make setup` first (the plan needs .venv, node for tools/crd-validate and "
                          "promtool), and run the benchmark with the project's venv: .venv/bin/python "
                          "bench/plan_bench.py", file=sys.stderr)
                    return proc.returncode if proc.returncode != 0 else 1
                runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            row = {"models": n, "resources": int(runs[0]["resources"]),
                   **{k: statistics.median(r[k] for r in runs)
                      for k in ("plan_s", "charts_s", "floor_a_s", "floor_b_s", "import_s")},
                   "peak_mb": max(r["peak_mb"] for r in runs)}
            count = row["resources"]
            per = (row["plan_s"] - row["charts_s"]) / count * 1000
            per_a, per_b = row["floor_a_s"] / count * 1000, row["floor_b_s"] / count * 1000
            row["x_b"] = per / per_b
            rows.append(row)
            print(f"{n:>6} {count:>9} {row['import_s']:>9.2f} {row['plan_s']:>7.2f} {row['charts_s']:>8.2f} "
                  f"{per:>7.2f} {per_a:>9.2f} {per / per_a:>5.1f} {per_b:>9.2f} {row['x_b']:>5.2f} "
                  f"{row['peak_mb']:>8.0f}")
    return report_targets(rows)


def report_targets(rows: list[dict[str, float]]) -> int:
    """Each target of issue 15 as met or missed, and the fixed overhead of small stacks."""
    print("\ntargets:")
    missed = []

    def judge(name: str, ok: bool) -> None:
        print(f"  {name}: {'met' if ok else 'MISSED'}")
        if not ok:
            missed.append(name)

    for r in rows:
        n = int(r["models"])
        if n >= 100:  # 100 and 1,000 models alike
            judge(f"{n} models: {r['x_b']:.2f}x floor B per resource <= 2.0x", r["x_b"] <= 2.0)
            wall = r["plan_s"] + r["import_s"]
            judge(f"{n} models: {wall:.1f} s < 60 s", wall < 60)
            judge(f"{n} models: peak {r['peak_mb']:.0f} MB < 1024 MB", r["peak_mb"] < 1024)
        else:
            overhead = r["plan_s"] - r["charts_s"] - r["floor_b_s"]
            print(f"  {n} models: fixed overhead {overhead:.2f} s beyond floor B ({r['x_b']:.2f}x floor B per "
                  f"resource; charts {r['charts_s']:.2f} s and SDK imports {r['import_s']:.2f} s aside)")
    # Linear: the memory each further model adds does not grow with the fleet (25% slack for noise).
    sized = sorted((r for r in rows if r["models"] >= 10), key=lambda r: r["models"])
    steps = [(b["models"], (b["peak_mb"] - a["peak_mb"]) / (b["models"] - a["models"]))
             for a, b in itertools.pairwise(sized) if b["models"] > a["models"]]
    if len(steps) >= 2:
        judge("memory linear: " + ", ".join(f"{mb:.2f} MB per model up to {n:.0f}" for n, mb in steps),
              all(later <= earlier * 1.25 for (_, earlier), (_, later) in itertools.pairwise(steps)))
    print("targets met" if not missed else f"TARGETS MISSED: {len(missed)} of the above")
    return 0 if not missed else 1


if __name__ == "__main__":
    sys.exit(main())
