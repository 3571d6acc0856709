"""Training and evaluating Keras classifiers that take raw strings."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras

from tl_text.data.dataset import TextDataset
from tl_text.errors import ConfigError
from tl_text.training.distribute import scaled, scope, worker_name
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
    epoch is still chosen among all of them). With `state_dir`, its state (patience count,
    best loss and weights) is saved after every epoch and read back when a fit resumes from a
    checkpoint, which BackupAndRestore alone does not keep."""

    def __init__(self, min_epochs: int = 0, state_dir: Path | None = None, **kwargs):
        super().__init__(**kwargs)
        self.min_epochs, self.state_dir = min_epochs, state_dir
        self.history: dict[str, list[float]] = {}  # every epoch's logs, resumed ones too

    def on_epoch_begin(self, epoch, logs=None):
        if self.state_dir is not None and self.best_weights is None and epoch > 0:
            self._restore(epoch - 1)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        if epoch + 1 < self.min_epochs:
            self.model.stop_training = False
            self.stopped_epoch = 0
        if self.state_dir is not None:
            self._save(epoch)

    def _file(self, epoch: int) -> Path:
        return self.state_dir / f"early_stopping-{epoch}.npz"

    def _save(self, epoch: int) -> None:
        """State after `epoch`; the one before it is kept too, since the weights checkpoint
        of `epoch` is written after this and a kill in between resumes at `epoch` again."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_dir / f".early_stopping-{epoch}.tmp.npz"
        np.savez(tmp, counters=np.array([self.wait, self.best_epoch, self.stopped_epoch]),
                 best=np.array(self.best, np.float64), history=np.array(json.dumps(self.history)),
                 **{f"w{i}": w for i, w in enumerate(self.best_weights or [])})
        tmp.replace(self._file(epoch))
        self._file(epoch - 2).unlink(missing_ok=True)

    def _restore(self, epoch: int) -> None:
        if not self._file(epoch).exists():
            return
        with np.load(self._file(epoch)) as state:
            self.wait, self.best_epoch, self.stopped_epoch = (int(v) for v in state["counters"])
            self.best = float(state["best"])
            self.history = json.loads(str(state["history"]))
            weights = [state[f"w{i}"] for i in range(len(state.files) - 3)]
        self.best_weights = weights or None


def backup(checkpoint_dir: str | Path, checkpoint_every: int) -> "Backup":
    """The checkpointing callback: every epoch, and every `checkpoint_every` steps if > 0."""
    if checkpoint_every < 0:
        raise ConfigError(f"checkpoint_every must be 0 or more steps, not {checkpoint_every}")
    return Backup(str(checkpoint_dir), save_freq=checkpoint_every or "epoch")


class Backup(tf_keras.callbacks.BackupAndRestore):
    """BackupAndRestore that saves every `save_freq` steps and also at every epoch end."""

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            super().on_epoch_end(epoch, logs)
        else:  # as the last step of the epoch: a resume starts the next epoch
            self._batches_count = 0
            self._backup(epoch=epoch, batch=self.params["steps"] - 1)


def fit(model: tf_keras.Model, train: TextDataset, valid: TextDataset | None = None,
        epochs: int = 10, batch_size: int = 32, learning_rate: float = 1e-3,
        patience: int = 2, seed: int = 0, verbose: int = 1,
        schedule: str = "constant", min_epochs: int = 0,
        strategy: tf.distribute.Strategy | None = None, checkpoint_dir: str | Path | None = None,
        checkpoint_every: int = 0) -> FitResult:
    """Adam + sparse cross-entropy; with `valid`, early stopping on validation loss (after
    at least `min_epochs`) that restores the best epoch's weights. `schedule="onecycle"`
    cycles the learning rate over `epochs` with `learning_rate` as its peak.

    `strategy` (`tl_text.training.distribute`; the model must have been built in its scope):
    `batch_size` and `learning_rate` are per replica, the global batch and the rate are
    both multiplied by the replicas. `checkpoint_dir`: the training state (weights, optimizer,
    epoch and step, early stopping) is saved there after every epoch and, with
    `checkpoint_every`, every that many steps; a fit killed midway and started again with the
    same folder resumes from the last checkpoint; the folder is removed when the fit ends."""
    if schedule not in SCHEDULES:
        raise ConfigError(f"schedule must be one of {SCHEDULES}, not {schedule!r}")
    batch_size, rate = scaled(strategy, batch_size, learning_rate)
    if schedule == "onecycle":
        rate = OneCycle(rate, epochs * -(-len(train) // batch_size))
    with scope(strategy):
        model.compile(optimizer=tf_keras.optimizers.Adam(rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = []
    if valid is not None:  # before Backup: its state is saved before the weights' checkpoint
        state_dir = None if checkpoint_dir is None else \
            Path(checkpoint_dir) / f"callbacks-{worker_name(strategy)}"
        callbacks.append(EarlyStopping(min_epochs, state_dir, monitor="val_loss",
                                       patience=patience, restore_best_weights=True))
    if checkpoint_dir is not None:
        callbacks.append(backup(checkpoint_dir, checkpoint_every))
    start = time.perf_counter()
    history = model.fit(text_batches(train, batch_size, shuffle_seed=seed),
                        validation_data=None if valid is None else text_batches(valid, 256),
                        epochs=epochs, callbacks=callbacks, verbose=verbose)
    seconds = time.perf_counter() - start
    if checkpoint_dir is not None:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    if valid is not None:
        hist = callbacks[0].history
    ran = len(hist["loss"])
    best = int(np.argmin(hist["val_loss"])) if valid is not None else ran - 1
    return FitResult(hist, best, seconds / len(history.history["loss"]))  # this run's epochs


def predict_proba(model: tf_keras.Model, texts: list[str], batch_size: int = 256) -> np.ndarray:
    data = tf.data.Dataset.from_tensor_slices(tf.constant(texts, tf.string)).batch(batch_size)
    return model.predict(data, verbose=0)


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(probabilities).argmax(axis=1) == np.asarray(labels)))
