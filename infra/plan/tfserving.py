"""TensorFlow Serving's config files, rendered as text protos, and its command-line flags.

The text formats are those of TF Serving's own protos (tests parse them with
tensorflow_serving.config.model_server_config_pb2 and friends):
- models.config      ModelServerConfig { model_config_list { config { ... } } }
- batching.config    BatchingParameters (session_bundle_config.proto)
- monitoring.config  MonitoringConfig { prometheus_config { ... } }
"""

from __future__ import annotations

from collections.abc import Sequence
import json

from infra.config.spec import Batching

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


def batching_config(b: Batching) -> str:
    lines = [
        f"max_batch_size {{ value: {b.max_batch_size} }}",
        f"batch_timeout_micros {{ value: {b.batch_timeout_micros} }}",
        f"max_enqueued_batches {{ value: {b.max_enqueued_batches} }}",
        f"num_batch_threads {{ value: {b.num_batch_threads} }}",
        *(f"allowed_batch_sizes: {s}" for s in b.allowed_batch_sizes),
        f"pad_variable_length_inputs: {'true' if b.pad_variable_length_inputs else 'false'}",
    ]
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
