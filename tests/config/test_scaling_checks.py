"""The scaling and batching checks of the loader: each refusal names the file, line, field,
value and the number to use; and the defaults they derive."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.config.errors import ConfigError
from infra.config.loader import load
from infra.plan.tfserving import resolve_batching
from infra.rules import scaling


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _issues(root: Path, stack: str = "dev") -> list[str]:
    with pytest.raises(ConfigError) as err:
        load(root, stack)
    return [i.render() for i in err.value.issues]


def test_a_queue_that_holds_requests_past_the_objective_is_refused(repo_copy: Path) -> None:
    """The resnet50 of the issue: 200 queued batches of 64 behind a 100 ms objective."""
    _edit(repo_copy / "models" / "resnet50.yaml", "    batch_execution_ms: 40", "    max_enqueued_batches: 200\n"
          "    batch_execution_ms: 40")
    (issue,) = _issues(repo_copy)
    assert issue.startswith("models/resnet50.yaml:27: serving.batching.max_enqueued_batches: a full queue makes a "
                            "request wait 2045 ms (5 ms timeout + 50 batches ahead per thread + its own, 40 ms each "
                            "from batch_execution_ms), over the 100 ms latency objective (got 200)")
    assert "fix: use at most 4 (or remove it: that is the default)" in issue


def test_a_timeout_and_batch_beyond_the_objective_are_refused(repo_copy: Path) -> None:
    _edit(repo_copy / "models" / "resnet50.yaml", "batch_timeout_micros: 5000", "batch_timeout_micros: 70000")
    (issue,) = _issues(repo_copy)
    assert "serving.batching.batch_timeout_micros: 70 ms of batch timeout plus one batch (batch_execution_ms) " \
           "exceed the latency objective (100 ms) before any request queues (got 70000)" in issue


@pytest.mark.parametrize(("old", "new", "message"), [
    ("    batch_execution_ms: 40", "    batch_execution_ms: 40\n    enable_large_batch_splitting: false\n"
     "    max_execution_batch_size: 32", "only applies with enable_large_batch_splitting"),
    ("    batch_execution_ms: 40", "    batch_execution_ms: 40\n    max_execution_batch_size: 128",
     "is above max_batch_size (64)"),
    ("    batch_execution_ms: 40", "    batch_execution_ms: 40\n    max_execution_batch_size: 32",
     "must be increasing and end with max_execution_batch_size (32"),
])
def test_large_batch_splitting_rules(repo_copy: Path, old: str, new: str, message: str) -> None:
    _edit(repo_copy / "models" / "resnet50.yaml", old, new)
    assert any(message in i for i in _issues(repo_copy)), _issues(repo_copy)


def test_splitting_with_an_execution_size_below_the_input_batch(repo_copy: Path) -> None:
    _edit(repo_copy / "models" / "resnet50.yaml", "    max_batch_size: 64\n", "    max_batch_size: 256\n")
    _edit(repo_copy / "models" / "resnet50.yaml", "    batch_execution_ms: 40", "    batch_execution_ms: 40\n"
          "    max_execution_batch_size: 64")
    b = resolve_batching(load(repo_copy, "dev").models["resnet50"].serving)
    assert (b.enable_large_batch_splitting, b.max_execution_batch_size, b.max_batch_size) == (True, 64, 256)


def test_derived_batching_defaults() -> None:
    from tests.conftest import REPO

    models = load(REPO, "dev").models
    resnet = resolve_batching(models["resnet50"].serving)
    assert (resnet.max_enqueued_batches, resnet.enable_large_batch_splitting, resnet.max_execution_batch_size) \
        == (4, True, 64)
    budget = scaling.queue_budget(objective_ms=100, timeout_micros=5000, execution_ms=40, max_enqueued_batches=4,
                                  num_batch_threads=4)
    assert budget.worst_ms == 85 and budget.fits
    mobilenet = resolve_batching(models["mobilenet"].serving)  # CPU: no splitting, objective/4 per batch
    assert (mobilenet.enable_large_batch_splitting, mobilenet.batch_execution_ms) == (False, 20)
    assert mobilenet.max_enqueued_batches == 2 * (int((80 - 2) / 20) - 1)


def test_a_cold_start_budget_shorter_than_a_start_is_refused(repo_copy: Path) -> None:
    _edit(repo_copy / "models" / "resnet50.yaml", "    max_replicas: 8\n", "    max_replicas: 8\n"
          "    cold_start_budget_s: 600\n")
    (issue,) = _issues(repo_copy)
    assert "serving.autoscaling.cold_start_budget_s: is shorter than a start on gpu: 300 s node provisioning + " \
           "180 s image pull + 900 s load_timeout_s = 1380 s (got 600)" in issue
    assert "fix: raise cold_start_budget_s to 1380 or more" in issue


@pytest.mark.parametrize(("signals", "message"), [
    ("[requests, accelerator]", "a CPU model has no accelerator duty cycle"),
])
def test_signals_must_exist_for_the_model(repo_copy: Path, signals: str, message: str) -> None:
    _edit(repo_copy / "models" / "mobilenet.yaml", "    target_cpu_utilization_percent: 65\n",
          f"    target_cpu_utilization_percent: 65\n    signals: {signals}\n")
    assert any(message in i for i in _issues(repo_copy))


def test_awake_hours_must_be_a_window(repo_copy: Path) -> None:
    _edit(repo_copy / "stacks" / "Pulumi.dev.yaml", "  tfplat:serving:\n", "  tfplat:serving:\n"
          "    scale_to_zero: {awake: {from: '20:00', to: '08:00'}}\n")
    (issue,) = _issues(repo_copy)
    assert "config.tfplat:serving.scale_to_zero.awake.to: is not after from (20:00)" in issue


def test_awake_hours_name_a_real_time_zone(repo_copy: Path) -> None:
    """KEDA's cron trigger loads the zone by its IANA name; a made-up one fails in the cluster."""
    _edit(repo_copy / "stacks" / "Pulumi.dev.yaml", "  tfplat:serving:\n", "  tfplat:serving:\n"
          "    scale_to_zero: {awake: {from: '08:00', to: '20:00', timezone: Europe/Berlinn}}\n")
    (issue,) = _issues(repo_copy)
    assert "config.tfplat:serving.scale_to_zero.awake.timezone: is not an IANA time zone" in issue
    assert 'did you mean "Europe/Berlin"' in issue


def test_scale_to_zero_defaults_to_dev_only() -> None:
    from infra.plan.scaling.fleet import scale_to_zero_enabled
    from tests.conftest import REPO

    assert {s: scale_to_zero_enabled(load(REPO, s).stack) for s in ("dev", "staging", "prod", "prod-aws")} == \
        {"dev": True, "staging": False, "prod": False, "prod-aws": False}
