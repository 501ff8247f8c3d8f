"""TensorFlow Serving's config files, rendered as text protos, and its command-line flags.

The text formats are those of TF Serving's own protos (tests parse them with
tensorflow_serving.config.model_server_config_pb2 and friends):
- models.config      ModelServerConfig { model_config_list { config { ... } } }
- batching.config    BatchingParameters (session_bundle_config.proto)
- monitoring.config  MonitoringConfig { prometheus_config { ... } }
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
import json

from infra.config.spec import Batching, ServingSettings
from infra.rules import scaling

GRPC_PORT = 8500
REST_PORT = 8501
CONFIG_DIR = "/etc/tfserving"
METRICS_PATH = "/monitoring/prometheus/metrics"
MODEL_CONFIG_FILE = "models.config"
BATCHING_FILE = "batching.config"
MONITORING_FILE = "monitoring.config"
SERVER_CONTAINER = "tensorflow-serving"
FETCH_CONTAINER = "fetch-model"  # AWS: copies the version from S3 before the server starts
# tensorflow_model_server's defaults (model_servers/server.h: max_num_load_retries,
# load_retry_interval_micros): a version that cannot load is tried 1 + 5 times a minute
# apart, then the server exits (it never started its HTTP port, so never its metrics).
MAX_LOAD_RETRIES = 5
LOAD_RETRY_INTERVAL_S = 60
# Time a Deployment gets beyond the startup probe's load budget before Kubernetes marks
# it ProgressDeadlineExceeded (scheduling, image pull, the first probe).
PROGRESS_MARGIN_S = 120


def progress_deadline_s(load_timeout_s: int) -> int:
    """progressDeadlineSeconds of a color's Deployment."""
    return load_timeout_s + PROGRESS_MARGIN_S


def _q(text: str) -> str:
    """A text-proto string literal (JSON escaping is a valid subset)."""
    return json.dumps(text)


def model_config(*, name: str, base_path: str, version: int) -> str:
    """Serve exactly one version: the color's. Other versions in the bucket are ignored."""
    return (
        "model_config_list {\n"
        "  config {\n"
        f"    name: {_q(name)}\n"
        f"    base_path: {_q(base_path)}\n"
        '    model_platform: "tensorflow"\n'
        "    model_version_policy {\n"
        "      specific {\n"
        f"        versions: {version}\n"
        "      }\n"
        "    }\n"
        "  }\n"
        "}\n"
    )


def resolve_batching(serving: ServingSettings) -> Batching:
    """The model's batching with every default filled (infra.rules.scaling: the queue rule,
    large-batch splitting on accelerators, the execution size)."""
    b = serving.batching
    kind = serving.accelerator.kind
    split = scaling.large_batch_splitting(kind, b.enable_large_batch_splitting)
    execution = scaling.execution_size(max_batch_size=b.max_batch_size, allowed_batch_sizes=b.allowed_batch_sizes,
                                       explicit=b.max_execution_batch_size, splitting=split)
    execution_ms = b.batch_execution_ms or scaling.default_execution_ms(serving.latency_objective_ms)
    queue = b.max_enqueued_batches or scaling.max_enqueued_batches(
        objective_ms=serving.latency_objective_ms, timeout_micros=b.batch_timeout_micros, execution_ms=execution_ms,
        num_batch_threads=b.num_batch_threads)
    return replace(b, enable_large_batch_splitting=split, max_execution_batch_size=execution if split else None,
                   batch_execution_ms=execution_ms, max_enqueued_batches=queue)


def execution_batch(b: Batching) -> int:
    """The largest batch one execution runs (of a resolved Batching)."""
    return b.max_execution_batch_size or b.max_batch_size


def batching_config(b: Batching) -> str:
    """BatchingParameters (session_bundle_config.proto) of a resolved Batching; fields 8 and
    9 (large batch splitting) only when splitting is on."""
    assert b.max_enqueued_batches is not None, "resolve_batching fills it"
    lines = [
        f"max_batch_size {{ value: {b.max_batch_size} }}",
        f"batch_timeout_micros {{ value: {b.batch_timeout_micros} }}",
        f"max_enqueued_batches {{ value: {b.max_enqueued_batches} }}",
        f"num_batch_threads {{ value: {b.num_batch_threads} }}",
        *(f"allowed_batch_sizes: {s}" for s in b.allowed_batch_sizes),
        f"pad_variable_length_inputs: {'true' if b.pad_variable_length_inputs else 'false'}",
    ]
    if b.enable_large_batch_splitting:
        lines += ["enable_large_batch_splitting { value: true }",
                  f"max_execution_batch_size {{ value: {execution_batch(b)} }}"]
    return "\n".join(lines) + "\n"


def monitoring_config() -> str:
    return (
        "prometheus_config {\n"
        "  enable: true\n"
        f"  path: {_q(METRICS_PATH)}\n"
        "}\n"
    )


def server_args(*, batching: bool, warmup: bool, grpc_max_connection_age_s: int,
                poll_wait_s: int = 30) -> Sequence[str]:
    """Flags of tensorflow_model_server matching the files above."""
    age_ms = grpc_max_connection_age_s * 1000
    args = [
        f"--port={GRPC_PORT}",
        f"--rest_api_port={REST_PORT}",
        f"--model_config_file={CONFIG_DIR}/{MODEL_CONFIG_FILE}",
        f"--monitoring_config_file={CONFIG_DIR}/{MONITORING_FILE}",
        f"--enable_model_warmup={'true' if warmup else 'false'}",
        # Long-lived gRPC clients would stick to the pods they first reached; capping the
        # connection age makes them reconnect and spread over new replicas.
        f"--grpc_channel_arguments=grpc.max_connection_age_ms={age_ms},"
        f"grpc.max_connection_age_grace_ms={min(age_ms, 30000)}",
        # The version set is fixed per color; polling storage often only costs requests.
        f"--file_system_poll_wait_seconds={poll_wait_s}",
    ]
    if batching:
        args += ["--enable_batching=true", f"--batching_parameters_file={CONFIG_DIR}/{BATCHING_FILE}"]
    return args
