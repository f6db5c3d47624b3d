"""The Keras model: built from features.py, callable on a batch, and it learns."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from models import features, model


def synthetic_batches(rows: int, seed: int = 0) -> tf.data.Dataset:
    """Transformed-feature batches where payment id 1 means 'big tipper', as in the taxi data."""
    rng = np.random.default_rng(seed)
    inputs = {
        name: rng.integers(0, size, (rows, 1)).astype(np.int64)
        for name, size in features.categorical_cardinalities().items()
    }
    inputs.update({name: rng.normal(size=(rows, 1)).astype(np.float32)
                   for name in features.numeric_model_inputs()})
    payment = features.transformed_name("payment_type")
    inputs[payment] = rng.integers(0, 2, (rows, 1)).astype(np.int64)
    label = inputs[payment].astype(np.float32)
    weight = np.ones((rows, 1), np.float32)
    return tf.data.Dataset.from_tensor_slices((inputs, label, weight)).batch(32).repeat()


def test_model_reads_every_transformed_feature() -> None:
    built = model.build_model(model.Hyperparameters())
    assert sorted(built.input_names) == model.model_input_names()


def test_model_outputs_probabilities_for_a_batch() -> None:
    built = model.build_model(model.Hyperparameters())
    inputs, _, _ = next(iter(synthetic_batches(8)))
    probabilities = built(inputs).numpy()
    assert probabilities.shape == (8, 1)
    assert np.all((probabilities >= 0) & (probabilities <= 1))


def test_training_lowers_the_loss_and_learns_the_signal() -> None:
    hparams = model.Hyperparameters(batch_size=32, seed=1)
    tf.keras.utils.set_random_seed(hparams.seed)
    built = model.build_model(hparams)
    data = synthetic_batches(256)
    log = model.train(built, data, data, hparams, train_steps=200, eval_steps=8)
    first_loss, last_loss = log.train_loss[0][1], log.train_loss[-1][1]
    assert last_loss < first_loss / 2
    assert log.eval_auc > 0.95


def test_hyperparameters_come_from_custom_config() -> None:
    hparams = model.Hyperparameters.from_custom_config(
        {"hyperparameters": {"batch_size": 64, "learning_rate": 0.01, "seed": 7}}
    )
    assert (hparams.batch_size, hparams.learning_rate, hparams.seed) == (64, 0.01, 7)
    with pytest.raises(TypeError):
        model.Hyperparameters.from_custom_config({"hyperparameters": {"unknown": 1}})
