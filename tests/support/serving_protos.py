"""TF Serving's BatchingParameters and MonitoringConfig messages, for parsing our text files.

tensorflow-serving-api ships model_server_config_pb2 but not these two protos (they live in
the server's source tree: servables/tensorflow/session_bundle_config.proto and
config/monitoring_config.proto). They are declared here with the same package, message
names, field names, numbers and types, so a text file that parses here parses in the server.
"""

from __future__ import annotations

from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

_FIELD = descriptor_pb2.FieldDescriptorProto
_WRAPPERS = "google/protobuf/wrappers.proto"


def _message(name: str, fields: list[tuple[str, int, int, str, bool]]):
    """A DescriptorProto from (name, number, type, type_name, repeated) tuples."""
    message = descriptor_pb2.DescriptorProto(name=name)
    for field_name, number, kind, type_name, repeated in fields:
        field = message.field.add(
            name=field_name, number=number, type=kind,
            label=_FIELD.LABEL_REPEATED if repeated else _FIELD.LABEL_OPTIONAL,
        )
        if type_name:
            field.type_name = type_name
    return message


def _pool() -> descriptor_pool.DescriptorPool:
    """A private pool holding wrappers.proto and the two TF Serving files."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(descriptor_pb2.FileDescriptorProto.FromString(wrappers_pb2.DESCRIPTOR.serialized_pb))
    int64, string = ".google.protobuf.Int64Value", ".google.protobuf.StringValue"
    batching = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/servables/tensorflow/session_bundle_config.proto",
        package="tensorflow.serving", syntax="proto3", dependency=[_WRAPPERS],
    )
    batching.message_type.append(_message("BatchingParameters", [
        ("max_batch_size", 1, _FIELD.TYPE_MESSAGE, int64, False),
        ("batch_timeout_micros", 2, _FIELD.TYPE_MESSAGE, int64, False),
        ("max_enqueued_batches", 3, _FIELD.TYPE_MESSAGE, int64, False),
        ("num_batch_threads", 4, _FIELD.TYPE_MESSAGE, int64, False),
        ("thread_pool_name", 5, _FIELD.TYPE_MESSAGE, string, False),
        ("allowed_batch_sizes", 6, _FIELD.TYPE_INT64, "", True),
        ("pad_variable_length_inputs", 7, _FIELD.TYPE_BOOL, "", False),
    ]))
    monitoring = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/config/monitoring_config.proto",
        package="tensorflow.serving", syntax="proto3",
    )
    monitoring.message_type.append(_message("PrometheusConfig", [
        ("enable", 1, _FIELD.TYPE_BOOL, "", False),
        ("path", 2, _FIELD.TYPE_STRING, "", False),
    ]))
    monitoring.message_type.append(_message("MonitoringConfig", [
        ("prometheus_config", 1, _FIELD.TYPE_MESSAGE, ".tensorflow.serving.PrometheusConfig",
         False),
    ]))
    pool.Add(batching)
    pool.Add(monitoring)
    return pool


def message_class(full_name: str):
    """The generated class of tensorflow.serving.BatchingParameters or .MonitoringConfig."""
    pool = _pool()
    return message_factory.MessageFactory(pool).GetPrototype(
        pool.FindMessageTypeByName(full_name)
    )


def read_warmup(path: Path) -> list:
    """A warmup file's PredictionLogs, parsed back."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    return [prediction_log_pb2.PredictionLog.FromString(record.numpy())
            for record in tf.data.TFRecordDataset([str(path)])]
