"""Issue 5: every TF Serving config file the planner renders parses with TF Serving's protos.

For each stack in stacks/ the fleets are planned exactly as `pulumi up` plans them, and
each ColorPlan.config_files entry is parsed with google.protobuf.text_format (which
rejects unknown fields), then compared with the model config it came from.
"""

from __future__ import annotations

from conftest import REPO
from google.protobuf import text_format
import pytest
from tfserving_protos import messages

from infra.config.loader import available_stacks, load
from infra.plan.stack import plan_stack
from infra.plan.tfserving import BATCHING_FILE, METRICS_PATH, MODEL_CONFIG_FILE, MONITORING_FILE, resolve_batching

ModelServerConfig, MonitoringConfig, BatchingParameters, SOURCE = messages()
STACKS = available_stacks(REPO)


def test_every_stack_is_checked() -> None:
    assert {"dev", "staging", "prod", "prod-aws"} <= set(STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_config_files_parse_with_tf_serving_protos(stack: str) -> None:
    plan = plan_stack(load(REPO, stack))
    checked = 0
    for fleet in plan.fleets:
        model = fleet.model
        for color in fleet.colors:
            files = color.config_files
            where = f"{stack}/{model.name}/{color.color}"

            msc = text_format.Parse(files[MODEL_CONFIG_FILE], ModelServerConfig())
            configs = msc.model_config_list.config
            assert len(configs) == 1, where
            cfg = configs[0]
            assert cfg.name == model.name, where
            assert cfg.base_path == fleet.base_path, where
            assert cfg.model_platform == "tensorflow", where
            assert list(cfg.model_version_policy.specific.versions) == [color.version], where

            mon = text_format.Parse(files[MONITORING_FILE], MonitoringConfig())
            assert mon.prometheus_config.enable is True, where
            assert mon.prometheus_config.path == METRICS_PATH, where

            b = resolve_batching(model.serving)
            assert (BATCHING_FILE in files) == b.enabled, where
            if b.enabled:
                bp = text_format.Parse(files[BATCHING_FILE], BatchingParameters())
                assert bp.max_batch_size.value == b.max_batch_size, where
                assert bp.batch_timeout_micros.value == b.batch_timeout_micros, where
                assert bp.max_enqueued_batches.value == b.max_enqueued_batches, where
                assert bp.num_batch_threads.value == b.num_batch_threads, where
                assert list(bp.allowed_batch_sizes) == list(b.allowed_batch_sizes), where
                assert bp.pad_variable_length_inputs == b.pad_variable_length_inputs, where
                # Fields 8 and 9: set exactly when splitting is on (GPU and TPU by default).
                assert bp.HasField("enable_large_batch_splitting") == bool(b.enable_large_batch_splitting), where
                assert bp.enable_large_batch_splitting.value == bool(b.enable_large_batch_splitting), where
                split = bp.enable_large_batch_splitting.value
                if split:
                    assert bp.max_execution_batch_size.value == b.max_execution_batch_size, where
                    assert bp.max_execution_batch_size.value <= bp.max_batch_size.value, where
                assert (model.serving.accelerator.kind != "cpu") == split, where
                # TF Serving's own rules for allowed_batch_sizes: increasing, ending at the
                # execution size (the input batch size without splitting).
                assert list(bp.allowed_batch_sizes) == sorted(bp.allowed_batch_sizes), where
                if bp.allowed_batch_sizes:
                    last = bp.max_execution_batch_size.value if split else bp.max_batch_size.value
                    assert bp.allowed_batch_sizes[-1] == last, where
            checked += 1
    assert checked == sum(len(f.colors) for f in plan.fleets) > 0


@pytest.mark.parametrize(("message", "text"), [
    ("batching", "max_batch_sizes { value: 8 }\n"),
    ("batching", "max_batch_size: 8\n"),  # a wrapper message, not a scalar
    ("monitoring", "prometheus_config { enable: true\n path: \"/m\"\n port: 9 }\n"),
    ("models", "model_config_list { config { name: \"m\" versions: 3 } }\n"),
])
def test_the_parse_rejects_what_tf_serving_rejects(message: str, text: str) -> None:
    cls = {"batching": BatchingParameters, "monitoring": MonitoringConfig, "models": ModelServerConfig}[message]
    with pytest.raises(text_format.ParseError):
        text_format.Parse(text, cls())
