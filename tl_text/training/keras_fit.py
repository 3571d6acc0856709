"""Training and evaluating Keras classifiers that take raw strings."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf
import tf_keras

from tl_text.data.dataset import TextDataset
from tl_text.errors import ConfigError
from tl_text.training.schedules import OneCycle

SCHEDULES = ("constant", "onecycle")


@dataclass
class FitResult:
    """What a training run returns: per-epoch history and the epoch whose weights were kept."""

    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0
    seconds_per_epoch: float = 0.0


def text_batches(dataset: TextDataset, batch_size: int, shuffle_seed: int | None = None):
    """tf.data of (string batch, label batch); shuffled each epoch when a seed is given."""
    data = tf.data.Dataset.from_tensor_slices((tf.constant(dataset.texts, tf.string),
                                               dataset.labels.astype(np.int32)))
    if shuffle_seed is not None:
        data = data.shuffle(len(dataset), seed=shuffle_seed, reshuffle_each_iteration=True)
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)


class EarlyStopping(tf_keras.callbacks.EarlyStopping):
    """Keras early stopping that never stops before `min_epochs` epochs have run (the best
    epoch is still chosen among all of them)."""

    def __init__(self, min_epochs: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.min_epochs = min_epochs

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if epoch + 1 < self.min_epochs:
            self.model.stop_training = False
            self.stopped_epoch = 0


def fit(model: tf_keras.Model, train: TextDataset, valid: TextDataset | None = None,
        epochs: int = 10, batch_size: int = 32, learning_rate: float = 1e-3,
        patience: int = 2, seed: int = 0, verbose: int = 1,
        schedule: str = "constant", min_epochs: int = 0) -> FitResult:
    """Adam + sparse cross-entropy; with `valid`, early stopping on validation loss (after
    at least `min_epochs`) that restores the best epoch's weights. `schedule="onecycle"`
    cycles the learning rate over `epochs` with `learning_rate` as its peak."""
    if schedule not in SCHEDULES:
        raise ConfigError(f"schedule must be one of {SCHEDULES}, not {schedule!r}")
    rate = learning_rate
    if schedule == "onecycle":
        rate = OneCycle(learning_rate, epochs * -(-len(train) // batch_size))
    model.compile(optimizer=tf_keras.optimizers.Adam(rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = []
    if valid is not None:
        callbacks.append(EarlyStopping(min_epochs, monitor="val_loss", patience=patience,
                                       restore_best_weights=True))
    start = time.perf_counter()
    history = model.fit(text_batches(train, batch_size, shuffle_seed=seed),
                        validation_data=None if valid is None else text_batches(valid, 256),
                        epochs=epochs, callbacks=callbacks, verbose=verbose)
    seconds = time.perf_counter() - start
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    ran = len(hist["loss"])
    best = int(np.argmin(hist["val_loss"])) if valid is not None else ran - 1
    return FitResult(hist, best, seconds / ran)


def predict_proba(model: tf_keras.Model, texts: list[str], batch_size: int = 256) -> np.ndarray:
    data = tf.data.Dataset.from_tensor_slices(tf.constant(texts, tf.string)).batch(batch_size)
    return model.predict(data, verbose=0)


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(probabilities).argmax(axis=1) == np.asarray(labels)))
