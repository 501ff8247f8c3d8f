"""TensorFlow Serving's config messages for text-format parsing.

ModelServerConfig comes from the tensorflow-serving-api wheel. That wheel (2.19.1, and
2.20/2.21 alike) does not ship monitoring_config_pb2 nor session_bundle_config_pb2, so
MonitoringConfig and BatchingParameters are imported from TF Serving's modules when an
installed wheel has them, and otherwise described here field by field (names, numbers,
types as in TF Serving 2.19's monitoring_config.proto and session_bundle_config.proto:
the subset of fields a model server config may set for these two files, under the same
package and message names). text_format.Parse rejects any field a message lacks, so a
misspelled or invented field fails exactly as tensorflow_model_server would reject it.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

_F = descriptor_pb2.FieldDescriptorProto


def _field(name: str, number: int, kind: int, *, type_name: str = "", repeated: bool = False) -> Any:
    """A FieldDescriptorProto (protobuf ships no type information, hence Any)."""
    label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    field = _F(name=name, number=number, type=kind, label=label)
    if type_name:  # set only for message fields: an empty type_name still counts as set
        field.type_name = type_name
    return field


def _described() -> tuple[type[Any], type[Any]]:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    msg, i64, s = _F.TYPE_MESSAGE, ".google.protobuf.Int64Value", ".google.protobuf.StringValue"
    b = ".google.protobuf.BoolValue"

    monitoring = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/config/monitoring_config.proto", package="tensorflow.serving", syntax="proto3")
    monitoring.message_type.add(name="PrometheusConfig", field=[
        _field("enable", 1, _F.TYPE_BOOL), _field("path", 2, _F.TYPE_STRING)])
    monitoring.message_type.add(name="MonitoringConfig", field=[
        _field("prometheus_config", 1, msg, type_name=".tensorflow.serving.PrometheusConfig")])
    pool.Add(monitoring)

    batching = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/servables/tensorflow/session_bundle_config.proto",
        package="tensorflow.serving", syntax="proto3", dependency=["google/protobuf/wrappers.proto"])
    batching.message_type.add(name="BatchingParameters", field=[
        _field("max_batch_size", 1, msg, type_name=i64),
        _field("batch_timeout_micros", 2, msg, type_name=i64),
        _field("max_enqueued_batches", 3, msg, type_name=i64),
        _field("num_batch_threads", 4, msg, type_name=i64),
        _field("thread_pool_name", 5, msg, type_name=s),
        _field("allowed_batch_sizes", 6, _F.TYPE_INT64, repeated=True),
        _field("pad_variable_length_inputs", 7, _F.TYPE_BOOL),
        # Large batch splitting (TF Serving 2.19): split a request batch across executions.
        _field("enable_large_batch_splitting", 8, msg, type_name=b),
        _field("max_execution_batch_size", 9, msg, type_name=i64),
    ])
    pool.Add(batching)
    return (message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig")),
            message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")))


def messages() -> tuple[type[Any], type[Any], type[Any], str]:
    """(ModelServerConfig, MonitoringConfig, BatchingParameters, where the last two came from)."""
    from tensorflow_serving.config import model_server_config_pb2

    try:
        from tensorflow_serving.config import monitoring_config_pb2
        from tensorflow_serving.servables.tensorflow import session_bundle_config_pb2

        return (model_server_config_pb2.ModelServerConfig, monitoring_config_pb2.MonitoringConfig,
                session_bundle_config_pb2.BatchingParameters, "tensorflow_serving wheel")
    except ImportError:
        monitoring, batching = _described()
        return model_server_config_pb2.ModelServerConfig, monitoring, batching, "described (not in the wheel)"
