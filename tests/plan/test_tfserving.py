"""Rendered TF Serving files and flags (parsed with TF Serving's protos in tests/tf)."""

from __future__ import annotations

from infra.config.spec import Batching
from infra.plan import tfserving


def test_model_config_serves_exactly_the_color_version() -> None:
    text = tfserving.model_config(name="m", base_path="gs://b/p", version=7)
    assert 'name: "m"' in text and 'base_path: "gs://b/p"' in text
    assert "specific {\n        versions: 7\n      }" in text


def test_batching_file_lists_buckets_in_order() -> None:
    b = Batching(enabled=True, max_batch_size=32, batch_timeout_micros=500, max_enqueued_batches=10,
                 num_batch_threads=2, allowed_batch_sizes=(8, 16, 32), pad_variable_length_inputs=False)
    text = tfserving.batching_config(b)
    assert text.splitlines() == [
        "max_batch_size { value: 32 }", "batch_timeout_micros { value: 500 }",
        "max_enqueued_batches { value: 10 }", "num_batch_threads { value: 2 }",
        "allowed_batch_sizes: 8", "allowed_batch_sizes: 16", "allowed_batch_sizes: 32",
        "pad_variable_length_inputs: false"]


def test_flags_match_files_and_cap_grpc_connection_age() -> None:
    args = tfserving.server_args(batching=True, warmup=True, grpc_max_connection_age_s=120)
    assert "--enable_batching=true" in args
    assert "--batching_parameters_file=/etc/tfserving/batching.config" in args
    assert "--monitoring_config_file=/etc/tfserving/monitoring.config" in args
    assert "--grpc_channel_arguments=grpc.max_connection_age_ms=120000,grpc.max_connection_age_grace_ms=30000" in args
    no_batch = tfserving.server_args(batching=False, warmup=False, grpc_max_connection_age_s=60)
    assert not any(a.startswith("--enable_batching") for a in no_batch)
    assert "--enable_model_warmup=false" in no_batch
