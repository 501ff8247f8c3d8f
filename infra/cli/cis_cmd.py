"""`tfplat cis`: a stack's plan judged item by item against CIS GKE 1.9.0 / CIS EKS 1.8.0.

The offline plan runs first (or `--resources` names a build/<stack>/resources.json, to judge
another revision's plan with today's policies); every policy that names a CIS item is
applied as in production. Items no plan can show are listed with the reason.
"""

from __future__ import annotations

import argparse
from collections import Counter
import json
from pathlib import Path
import sys
from typing import Any

EXIT_OK, EXIT_FAIL = 0, 1
ORDER = ("compliant", "waived", "not compliant", "gap", "live", "manual")


def register(sub: Any) -> None:
    p = sub.add_parser("cis", help="judge a stack's plan against the CIS GKE / EKS benchmark, item by item")
    p.add_argument("--stack", "-s", default="dev", help="stack name (stacks/Pulumi.<stack>.yaml); default dev")
    p.add_argument("--resources", help="judge this resources.json (a build/<stack>/ of any revision) instead of "
                                       "planning the stack now")
    p.add_argument("--all", action="store_true", help="also list the items no plan can decide (live, manual, gap)")
    p.add_argument("--fail", action="store_true", help="exit 1 when an item is not compliant")
    p.set_defaults(func=run)


def _resources(args: argparse.Namespace) -> tuple[list[dict[str, Any]], str, dict[str, str]]:
    from infra.config.loader import project_root
    from infra.offline.plan import engine_config, offline_plan
    from policies.tfplat_policies import stack_waivers

    root = project_root()
    if args.resources:
        doc = json.loads(Path(args.resources).read_text(encoding="utf-8"))
        records = doc["resources"]
        cloud = "aws" if any(r["type"].startswith("aws:eks/") for r in records) else "gcp"
        return records, cloud, {}
    outcome = offline_plan(root, args.stack, root / "build")
    doc = json.loads((root / "build" / args.stack / "resources.json").read_text(encoding="utf-8"))
    return doc["resources"], outcome.plan.stack.cloud, stack_waivers(engine_config(root, args.stack)[0])


def run(args: argparse.Namespace) -> int:
    from infra.cli.main import plan_failure
    from policies.tfplat_policies import resource_from_record
    from policies.tfplat_policies.cis import report

    try:
        records, cloud, waivers = _resources(args)
    except Exception as err:
        known = plan_failure(err, args.stack, Path("build"))
        if known is None:
            raise
        print(known[0], file=sys.stderr)
        return known[1]
    results = report([resource_from_record(r) for r in records], cloud, waivers)
    benchmark = "CIS GKE Benchmark v1.9.0" if cloud == "gcp" else "CIS Amazon EKS Benchmark v1.8.0"
    print(f"{args.resources or args.stack}: {benchmark} (items as kube-bench numbers them)")
    for r in results:
        if r.status in ("live", "manual", "gap") and not args.all:
            continue
        print(f"  {r.item.id:<11} {r.status:<14} {r.item.title}")
        for problem in r.problems[:3]:
            print(f"      {problem}")
        if r.item.reason and args.all:
            print(f"      {r.item.reason}")
    counts = Counter(r.status for r in results)
    decidable = sum(counts[s] for s in ("compliant", "waived", "not compliant"))
    print(f"compliant {counts['compliant']} of {decidable} decidable from the plan"
          f" ({counts['waived']} waived, {counts['not compliant']} not compliant); "
          + ", ".join(f"{counts[s]} {s}" for s in ("gap", "live", "manual")) + " (see --all)")
    return EXIT_FAIL if args.fail and counts["not compliant"] else EXIT_OK
