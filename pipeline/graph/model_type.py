"""The TFMA model type of the Evaluator's models, read from their SavedModel's object graph.

A ModelSpec without `model_type` makes TFMA load each model once more before its pipeline starts
(tfma.utils.get_model_type tries tf.keras.models.load_model and checks for a Keras Model): 0.9 s of
the Evaluator's 7 s at 1x (docs/performance.md). Without keras_metadata.pb and without a single
Keras object in the object graph, that load returns `tf.saved_model.load`'s object, never a Keras
Model, so TFMA would choose TF_GENERIC: the spec is given that type and the load is skipped. Any
Keras trace leaves the type unset, for TFMA's own check.
"""

from __future__ import annotations

import os
from typing import Any

from tfx import types
from tfx.utils import path_utils

# The file tf-keras writes beside a Keras SavedModel (tf_keras saving constants.SAVED_METADATA_PATH).
KERAS_METADATA_FILE = "keras_metadata.pb"
# Object-graph identifiers tf-keras gives the Keras objects it saves (layers, models, metrics).
KERAS_IDENTIFIER_PREFIX = "_tf_keras"
# A SavedModel's graph file, binary or text (tf.saved_model.SAVED_MODEL_FILENAME_PB, _PBTXT).
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


def serving_path(model: types.Artifact) -> str:
    """The SavedModel TFX's Evaluator executor hands TFMA for a model artifact."""
    return path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))


def has_no_keras_object(saved_model_dir: str) -> bool:
    """Whether the SavedModel holds no Keras object, so that TFMA's Keras load cannot give a Model."""
    import tensorflow as tf

    if tf.io.gfile.exists(os.path.join(saved_model_dir, KERAS_METADATA_FILE)) or not any(
            tf.io.gfile.exists(os.path.join(saved_model_dir, name)) for name in SAVED_MODEL_FILES):
        return False
    saved = tf.__internal__.saved_model.parse_saved_model(saved_model_dir)
    return not any(
        node.user_object.identifier.startswith(KERAS_IDENTIFIER_PREFIX)
        for graph in saved.meta_graphs for node in graph.object_graph_def.nodes
        if node.WhichOneof("kind") == "user_object")


def with_model_types(config: Any, models: list[types.Artifact]) -> bool:
    """Set TF_GENERIC on the ModelSpecs without a type when no model holds a Keras object (a
    baseline's spec is copied from the candidate's); whether the config was changed."""
    from tensorflow_model_analysis import constants

    untyped = [spec for spec in config.model_specs if not spec.model_type]
    if not untyped or not models or not all(has_no_keras_object(serving_path(m)) for m in models):
        return False
    for spec in untyped:
        spec.model_type = constants.TF_GENERIC
    return True
