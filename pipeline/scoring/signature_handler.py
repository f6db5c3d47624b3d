"""Beam's model handler for a SavedModel's `serving_default` on record batches of serialized
tf.Examples: one signature call and one output per batch. Imported only when scoring runs (it
imports Beam)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from apache_beam.ml.inference.base import ModelHandler

from pipeline.vocabulary import SERVING_SIGNATURE


class SignatureHandler(ModelHandler):
    """`serving_default` on whole record batches: each element is already a batch, so Beam's
    RunInference batches no further."""

    def __init__(self, model_dir: str) -> None:
        super().__init__()
        self._model_dir = model_dir

    def load_model(self) -> Any:
        """The serving signature, loaded as TF Serving loads it (the `serve` tag)."""
        import tensorflow as tf

        return tf.saved_model.load(self._model_dir, tags=["serve"]).signatures[SERVING_SIGNATURE]

    def run_inference(self, batch: Sequence[list[bytes]], model: Any,
                      inference_args: dict[str, Any] | None = None) -> Iterable[dict[str, Any]]:
        """Each record batch's outputs as arrays (one entry per row), from one signature call."""
        import tensorflow as tf

        return [{name: tensor.numpy() for name, tensor in model(
            examples=tf.constant(examples, tf.string)).items()} for examples in batch]

    def get_num_bytes(self, batch: Sequence[list[bytes]]) -> int:
        """The examples' bytes, for Beam's metrics (its default pickles the whole batch)."""
        return sum(len(example) for examples in batch for example in examples)

    def batch_elements_kwargs(self) -> dict[str, int]:
        """One record batch per call."""
        return {"min_batch_size": 1, "max_batch_size": 1}
