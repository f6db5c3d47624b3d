"""ServingPusher: publishes blessed models atomically into TF Serving's version layout."""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tfx import types
from tfx.components.pusher import executor as pusher_executor
from tfx.components.pusher.component import Pusher
from tfx.dsl.components.base import base_component, executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, channel, component_spec, standard_artifacts, standard_component_specs
from tfx.utils import io_utils, proto_utils

from pipeline.config import is_uri
from pipeline.serving import layout, warmup
from pipeline.vocabulary import EXAMPLES_KEY

# The raw columns a client sends: warmup requests carry these and nothing else.
SERVING_FEATURES = "serving_features"


class ServingPushExecutor(pusher_executor.Executor):
    """Pushes blessed models atomically into TF Serving's layout, never the same model twice."""

    def Do(  # TFX executor interface
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Publish the model as the next integer version unless it is unblessed or already served."""
        pushed = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY]
        )
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(pushed)
            pushed.set_string_custom_property("push_decision", "not blessed")
            return
        with local_model(self.GetModelPath(input_dict)) as model_dir:
            self._publish(model_dir, pushed, input_dict, exec_properties)

    def _publish(
        self,
        model_dir: Path,
        pushed: types.Artifact,
        input_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Publish a blessed model from its local folder, or record the version already serving it."""
        base_path = Path(_destination(exec_properties).filesystem.base_directory)
        fingerprint = layout.model_fingerprint(model_dir)
        pushed.set_string_custom_property("model_fingerprint", fingerprint)
        served = layout.version_with_fingerprint(base_path, fingerprint)
        if served is not None:
            self._MarkNotPushed(pushed)
            pushed.set_string_custom_property(
                "push_decision", f"identical model already served as version {served}"
            )
            pushed.set_string_custom_property("served_version", str(served))
            return
        model = artifact_utils.get_single_instance(input_dict[standard_component_specs.MODEL_KEY])
        examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
        client_features = json.loads(exec_properties.get("custom_config") or "{}").get(
            SERVING_FEATURES, [])
        logs = warmup.prediction_logs(
            base_path.name, warmup.read_serving_examples(examples.uri, client_features))
        record = layout.push_record(model.uri, fingerprint)
        version, version_dir = layout.publish(
            model_dir, base_path, record, lambda extra: warmup.write_warmup(extra, logs)
        )
        io_utils.copy_dir(str(model_dir), pushed.uri)
        self._MarkPushed(pushed, pushed_destination=str(version_dir), pushed_version=str(version))
        pushed.set_string_custom_property("push_decision", f"pushed as version {version}")
        pushed.set_int_custom_property("warmup_requests", len(logs))


@contextlib.contextmanager
def local_model(model_uri: str) -> Iterator[Path]:
    """The model as a local folder, which the serving layout hashes and copies; a model stored
    under a URI (gs://...) is first copied through TFX's file systems to a temporary folder."""
    if not is_uri(model_uri):
        yield Path(model_uri)
        return
    with tempfile.TemporaryDirectory(prefix="pushed-model-") as scratch:
        local = Path(scratch) / "model"
        _copy_tree(model_uri, local)
        yield local


def _copy_tree(uri: str, local: Path) -> None:
    """Every file under uri into local. A listed name that is no file is skipped: TensorFlow's
    ram:// lists by name prefix, so `assets` also lists `.extra` from a sibling `assets.extra`."""
    for folder, _, files in fileio.walk(uri):
        folder = str(folder)
        target = local / folder[len(uri):].lstrip("/")
        for name in files:
            source = f"{folder.rstrip('/')}/{name!s}"
            if fileio.isdir(source) or not fileio.exists(source):
                continue
            target.mkdir(parents=True, exist_ok=True)
            fileio.copy(source, str(target / str(name)))


def _destination(exec_properties: dict[str, Any]) -> pusher_pb2.PushDestination:
    """Decode the push destination TFX stores as JSON in the execution properties."""
    destination = pusher_pb2.PushDestination()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination
    )
    return destination


class ServingPusherSpec(standard_component_specs.PusherSpec):
    """TFX's PusherSpec plus the examples the model was evaluated on, for warmup requests."""

    INPUTS = {
        **standard_component_specs.PusherSpec.INPUTS,
        EXAMPLES_KEY: component_spec.ChannelParameter(
            type=standard_artifacts.Examples
        ),
    }


class ServingPusher(Pusher):
    """TFX's Pusher with an examples input and the atomic, de-duplicating, warming executor."""

    SPEC_CLASS = ServingPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(ServingPushExecutor)

    def __init__(
        self,
        model: channel.BaseChannel,
        model_blessing: channel.BaseChannel,
        examples: channel.BaseChannel,
        push_destination: pusher_pb2.PushDestination,
        serving_features: Sequence[str],
    ):
        spec = ServingPusherSpec(
            model=model,
            model_blessing=model_blessing,
            examples=examples,
            push_destination=push_destination,
            custom_config=json.dumps({SERVING_FEATURES: list(serving_features)}),
            pushed_model=channel.Channel(type=standard_artifacts.PushedModel),
        )
        base_component.BaseComponent.__init__(self, spec=spec)
