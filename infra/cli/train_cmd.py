"""`tfplat train MODEL --stack ENV`: render one run of the model's training recipe as a JobSet
and submit it to the cluster with the Kubernetes client (`--dry-run` writes it under
build/<stack>/training/ instead); `tfplat train --status --stack ENV` lists the runs.

A run is a submission, not Pulumi state: nothing here edits the stack. What is submitted is
checked first with the same policy the stacks are checked with (the JobSet names its queue).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
import os
from pathlib import Path
import subprocess
import sys
from typing import Any

import yaml

from infra.config.errors import ConfigError, ConfigIssue, did_you_mean, one_of
from infra.config.loader import load, project_root

EXIT_OK, EXIT_FAIL, EXIT_CONFIG = 0, 1, 2
GROUP, VERSION, PLURAL = "jobset.x-k8s.io", "v1alpha2", "jobsets"
KUEUE_GROUP, KUEUE_VERSION = "kueue.x-k8s.io", "v1beta2"


def git_revision(root: Path) -> str:
    """HEAD's commit, `-dirty` when the checkout has changes (the run then cannot be rebuilt
    from the commit alone); `unknown` outside a git checkout."""
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False, timeout=30)
        return out.stdout.strip() if out.returncode == 0 else ""

    head = git("rev-parse", "HEAD")
    if not head:
        return "unknown"
    return f"{head}-dirty" if git("status", "--porcelain", "--untracked-files=no") else head


def _plan(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(loaded config, stack plan, job plan); raises ConfigError for any user mistake."""
    from infra.plan.stack import plan_stack
    from infra.plan.training.job import RunError, plan_job

    root = project_root()
    loaded = load(root, args.stack)
    plan = plan_stack(loaded)
    file = loaded.stack.file
    if plan.training is None:
        raise ConfigError([ConfigIssue(file=file, path="config.tfplat:training.enabled", value=False,
                                       message=f"stack {args.stack} does not train",
                                       hint="set tfplat:training.enabled: true with teams and models "
                                            "(docs/runbooks/train-a-version.md)")])
    model = loaded.models.get(args.model)
    if model is None:
        known = sorted(loaded.models)
        raise ConfigError([ConfigIssue(file=f"models/{args.model}.yaml", path="", value=args.model,
                                       message="no such model",
                                       hint=f"use one of: {one_of(known)}{did_you_mean(args.model, known)}")])
    run = args.run_id or datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    try:
        job = plan_job(loaded.stack, plan.training, model, run=run, git_revision=git_revision(root),
                       workers=args.workers)
    except RunError as err:
        raise ConfigError([ConfigIssue(file=file, path="config.tfplat:training.models", value=args.model,
                                       message=err.message, hint=err.hint)]) from None
    return loaded, plan, job


def _client(args: argparse.Namespace) -> Any:
    from kubernetes import client, config

    # KUBECONFIG read now: the client reads it once, when first imported, and a process that
    # runs several commands (the runbook tests run tfplat in theirs) may have imported it earlier.
    config_file = args.kubeconfig or os.environ.get("KUBECONFIG") or None
    api = config.new_client_from_config(config_file=config_file, context=args.context)
    return client.CustomObjectsApi(api)


def _submit(args: argparse.Namespace, body: dict[str, Any]) -> int:
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException
    from urllib3.exceptions import HTTPError

    meta = body["metadata"]
    try:
        _client(args).create_namespaced_custom_object(GROUP, VERSION, meta["namespace"], PLURAL, body)
    except ConfigException as err:
        print(f"error: no cluster credentials: {err}\n    fix: point --kubeconfig (or KUBECONFIG) at the stack's "
              "cluster, or use --dry-run", file=sys.stderr)
        return EXIT_CONFIG
    except ApiException as err:
        reason = {409: "a run of that name exists already (use another --run-id)",
                  403: "the cluster refused: your identity may not create JobSets in that namespace",
                  404: "the cluster has no JobSet API or no such namespace: is tfplat:training applied "
                       "(pulumi up) on this stack?"}.get(err.status or 0, err.reason)
        print(f"error: submitting {meta['namespace']}/{meta['name']} failed ({err.status}): {reason}", file=sys.stderr)
        return EXIT_FAIL
    except (HTTPError, OSError) as err:
        print(f"error: cannot reach the cluster: {err}\n    fix: check the kubeconfig's server and your network",
              file=sys.stderr)
        return EXIT_FAIL
    print(f"submitted {meta['namespace']}/{meta['name']} to queue {meta['labels']['kueue.x-k8s.io/queue-name']}; "
          f"follow it with: tfplat train --status --stack {args.stack}")
    return EXIT_OK


def check_against_crd(body: dict[str, Any]) -> tuple[list[str], str | None]:
    """The JobSet checked against the CRD of the pinned JobSet chart (schema and CEL rules):
    (problems, None), or ([], why it could not be checked) when no chart source is reachable."""
    from infra.engines.chartstore import ChartStore, NoChartSourceError
    from infra.engines.crds import CrdCatalog, archive_crds
    from infra.plan.charts import JOBSET, chart

    pin = chart(JOBSET)
    try:
        archive = ChartStore.from_env().archive(pin)
    except NoChartSourceError as err:
        return [], f"not validated against the JobSet CRD of jobset {pin.version}: {err.reason}\n    fix: {err.fix}"
    catalog = CrdCatalog()
    catalog.add_objects(archive_crds(archive), f"jobset {pin.version}")
    return [p.render() for p in catalog.validate({"jobset": body})], None


def _pinned_jobset() -> str:
    from infra.plan.charts import JOBSET, chart

    return chart(JOBSET).version


def _cmd_run(args: argparse.Namespace) -> int:
    from infra.plan.training.job import render
    from policies.tfplat_policies.training import JOB_TYPES, check_job_queue

    _, _, job = _plan(args)
    body = render(job)
    findings = check_job_queue(JOB_TYPES[0], body, {})
    if findings:
        for f in findings:
            print(f"error: training-job-queue: {f.message}\n    fix: {f.fix}", file=sys.stderr)
        return EXIT_FAIL
    problems, unchecked = check_against_crd(body)
    if problems:
        for problem in problems:
            print(f"error: the JobSet CRD refuses the run: {problem}", file=sys.stderr)
        return EXIT_FAIL
    print(f"run {job.name}: {job.workers} worker(s) of {job.model} ({job.strategy}), "
          f"{job.per_worker} x {job.resource} each, on {', '.join(job.pools)}; queue {job.namespace}/{job.queue}\n"
          f"  checkpoints {job.checkpoint_dir} every {job.checkpoint_every_steps} steps; "
          f"new version under {job.export_base}/")
    print(f"note: {unchecked}" if unchecked else f"checked against the JobSet CRD of jobset {_pinned_jobset()}")
    if args.dry_run:
        out = Path(args.out) / args.stack / "training" / f"{job.name}.yaml"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(yaml.safe_dump(body, sort_keys=True), encoding="utf-8")
        print(f"wrote {out} (not submitted: --dry-run)")
        return EXIT_OK
    return _submit(args, body)


def _cmd_status(args: argparse.Namespace) -> int:
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException
    from urllib3.exceptions import HTTPError

    from infra.cli.train_status import match_workloads, render
    from infra.plan.stack import plan_stack

    plan = plan_stack(load(project_root(), args.stack))
    if plan.training is None:
        print(f"stack {args.stack} does not train (tfplat:training.enabled is false)")
        return EXIT_OK
    selector = "app.kubernetes.io/name=tfplat-training" + (f",tfplat.dev/model={args.model}" if args.model else "")
    rows = []
    try:
        api = _client(args)
        for ns in sorted(set(plan.training.namespaces.values())):
            jobsets = api.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, label_selector=selector)["items"]
            workloads = api.list_namespaced_custom_object(KUEUE_GROUP, KUEUE_VERSION, ns, "workloads")["items"]
            rows += match_workloads(jobsets, workloads)
    except ConfigException as err:
        print(f"error: no cluster credentials: {err}\n"
              "    fix: point --kubeconfig (or KUBECONFIG) at the stack's cluster", file=sys.stderr)
        return EXIT_CONFIG
    except (ApiException, HTTPError, OSError) as err:
        print(f"error: cannot list training runs: {err}", file=sys.stderr)
        return EXIT_FAIL
    sys.stdout.write(render(rows))
    return EXIT_OK


def _cmd(args: argparse.Namespace) -> int:
    if args.status:
        return _cmd_status(args)
    if not args.model:
        raise ConfigError([ConfigIssue(file="(command line)", path="MODEL", message="no model given",
                                       hint="tfplat train MODEL --stack ENV [--dry-run], or --status")])
    return _cmd_run(args)


def register(sub: Any) -> None:
    p = sub.add_parser("train", help="submit one run of a model's training recipe (a JobSet), or --status")
    p.add_argument("model", nargs="?", help="model name (models/<name>.yaml with a training: section)")
    p.add_argument("--stack", "-s", required=True, help="stack whose cluster runs it (tfplat:training)")
    p.add_argument("--status", action="store_true", help="list the stack's runs: queued, admitted, running, "
                                                         "restarted, done, failed")
    p.add_argument("--dry-run", action="store_true", help="write build/<stack>/training/<run>.yaml; submit nothing")
    p.add_argument("--workers", type=int, help="workers for this run (a 2-worker validation run before full scale)")
    p.add_argument("--run-id", help="suffix of the run's name (default: the UTC time, YYYYMMDD-HHMMSS)")
    p.add_argument("--out", default="build", help="output folder of --dry-run (default build)")
    p.add_argument("--kubeconfig", help="kubeconfig of the stack's cluster (default: KUBECONFIG or ~/.kube/config)")
    p.add_argument("--context", help="kubeconfig context (default: the current one)")
    p.set_defaults(func=_cmd)
