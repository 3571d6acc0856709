"""Fine-tuning transformer classifiers: native AdamW with warm-up, or ktrain's one-cycle policy.

Both trainers return the same `FitResult` as the CNN `fit`. The native trainer feeds
length-bucketed batches, each padded to its own longest document (`token_batches`); to train in
bfloat16, build the classifier under `tl_text.models.precision.policy("bfloat16")`. `lr_find`
runs ktrain's learning rate range test and saves the loss-vs-learning-rate plot as a PNG.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras

from tl_text.atomic import atomic_path
from tl_text.data.dataset import TextDataset
from tl_text.errors import ConfigError
from tl_text.models.transformer import TransformerClassifier
from tl_text.training.distribute import scaled, scope
from tl_text.training.keras_fit import FitResult, backup
from tl_text.training.schedules import WarmupLinearDecay

TRAINERS = ("native", "ktrain")


def fit_transformer(classifier: TransformerClassifier, train: TextDataset,
                    valid: TextDataset | None = None, epochs: int = 3, batch_size: int = 32,
                    learning_rate: float = 5e-5, warmup: float = 0.1, weight_decay: float = 0.01,
                    trainer: str = "native", seed: int = 0, verbose: int = 1,
                    bucket_by_length: bool = True,
                    strategy: tf.distribute.Strategy | None = None,
                    checkpoint_dir: str | Path | None = None,
                    checkpoint_every: int = 0) -> FitResult:
    """Fine-tune every weight of `classifier` on `train` for `epochs` epochs.

    native: AdamW (decoupled weight decay, none on biases and LayerNorm), learning rate rising
    linearly to `learning_rate` over the first `warmup` share of steps, then decaying to 0.
    ktrain: `fit_onecycle(learning_rate, epochs)` (`warmup` and `weight_decay` unused).
    `valid` is scored after every epoch; the last epoch's weights are kept.
    `bucket_by_length` (native only): batches of similar lengths (see `token_batches`);
    False: random batches, still padded to their own longest document.
    `strategy`, `checkpoint_dir`, `checkpoint_every` (native only): as in `keras_fit.fit`
    (the network must have been built in the strategy's scope; batch and rate are per
    replica and scale with the replicas).
    """
    if trainer not in TRAINERS:
        raise ConfigError(f"trainer must be one of {TRAINERS}, not {trainer!r}")
    if trainer == "ktrain" and (strategy is not None or checkpoint_dir is not None):
        raise ConfigError("the ktrain trainer runs on one device without checkpoints: use "
                          "trainer='native' with a strategy or checkpoint_dir")
    tf_keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    if trainer == "ktrain":
        history = _fit_ktrain(classifier, train, valid, epochs, batch_size, learning_rate,
                              verbose)
    else:
        batch_size, learning_rate = scaled(strategy, batch_size, learning_rate)
        steps = epochs * math.ceil(len(train) / batch_size)
        with scope(strategy):
            compile_for_fine_tuning(classifier, learning_rate, steps, warmup, weight_decay)
        callbacks = [] if checkpoint_dir is None else [
            backup(checkpoint_dir, checkpoint_every)]
        history = classifier.model.fit(
            token_batches(classifier, train, batch_size, shuffle_seed=seed,
                          bucket_by_length=bucket_by_length), epochs=epochs,
            validation_data=None if valid is None else token_batches(classifier, valid, 64),
            callbacks=callbacks, verbose=verbose).history
        if checkpoint_dir is not None:
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
    per_epoch = {k: [float(v) for v in values] for k, values in history.items()
                 if k.replace("val_", "") in ("loss", "accuracy")}
    return FitResult(per_epoch, epochs - 1, (time.perf_counter() - start) / epochs)


def compile_for_fine_tuning(classifier: TransformerClassifier, learning_rate: float,
                            steps: int, warmup: float = 0.1, weight_decay: float = 0.01,
                            jit_compile: bool = False) -> None:
    """Compile `classifier.model` for the native trainer: AdamW (no decay on biases and
    LayerNorm) with linear warm-up over `warmup` of `steps`, then linear decay to 0."""
    optimizer = tf_keras.optimizers.AdamW(
        WarmupLinearDecay(learning_rate, steps, round(warmup * steps)),
        weight_decay=weight_decay, epsilon=1e-8)
    optimizer.exclude_from_weight_decay(var_names=["bias", "LayerNorm", "layer_norm"])
    classifier.model.compile(
        optimizer=optimizer, metrics=["accuracy"], jit_compile=jit_compile,
        loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))


def token_batches(classifier: TransformerClassifier, dataset: TextDataset, batch_size: int,
                  shuffle_seed: int | None = None, bucket_by_length: bool = True,
                  pool_batches: int = 50) -> tf.data.Dataset:
    """tf.data of (model inputs, labels); each batch padded to its own longest document.

    Without `shuffle_seed` the documents go in order of length. With it, every epoch shuffles
    the documents; bucketing then sorts each pool of `pool_batches` batches by length, cuts
    it into batches and shuffles the order of all batches, so that a batch holds documents
    of similar lengths (little padding) yet batches still come in random order.
    """
    rows = classifier.token_ids(dataset.texts)
    lengths = np.array([len(row) for row in rows])
    labels = dataset.labels.astype(np.int32)
    rng = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)

    def batch_indices() -> list[np.ndarray]:
        if rng is None:
            order = np.argsort(lengths, kind="stable")
            return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        order = rng.permutation(len(rows))
        if not bucket_by_length:
            return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        pool = batch_size * pool_batches
        batches = []
        for start in range(0, len(order), pool):
            chunk = order[start:start + pool]
            chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
            batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def batches():
        for index in batch_indices():
            yield classifier.pad([rows[i] for i in index]), labels[index]

    names = classifier.input_names
    spec = ({n: tf.TensorSpec([None, None], tf.int32) for n in names},
            tf.TensorSpec([None], tf.int32))
    batch_count = math.ceil(len(rows) / batch_size)  # known to Keras: checkpoints need it
    return tf.data.Dataset.from_generator(batches, output_signature=spec).apply(
        tf.data.experimental.assert_cardinality(batch_count)).prefetch(2)


# --- ktrain ---------------------------------------------------------------------------------

def import_ktrain():
    """ktrain 0.41 with NumPy 2 and Keras 2: the two compatibility conditions it needs."""
    if not hasattr(np, "Inf"):
        np.Inf = np.inf  # removed in NumPy 2; ktrain's LR finder still uses it
    if not issubclass(tf.keras.Model, tf_keras.Model):
        raise ConfigError("ktrain needs tf.keras to be Keras 2: set TF_USE_LEGACY_KERAS=1 "
                          "before TensorFlow is imported (importing tl_text first does this)")
    import ktrain
    return ktrain


def _learner(classifier: TransformerClassifier, train: TextDataset,
             valid: TextDataset | None, batch_size: int):
    """A ktrain learner over fixed-length inputs (ktrain's TransformerDataset format)."""
    ktrain = import_ktrain()
    from ktrain.text.dataset import TransformerDataset

    def dataset(data: TextDataset):
        inputs = classifier.pad(classifier.token_ids(data.texts), classifier.max_length)
        stacked = np.stack([inputs[n] for n in classifier.input_names], axis=1)
        one_hot = np.eye(len(data.label_names), dtype=np.float32)[data.labels]
        return TransformerDataset(stacked, one_hot, batch_size=batch_size,
                                  use_token_type_ids="token_type_ids" in inputs)

    classifier.model.compile(
        optimizer=tf_keras.optimizers.legacy.Adam(), metrics=["accuracy"],
        loss=tf_keras.losses.CategoricalCrossentropy(from_logits=True))
    return ktrain.get_learner(classifier.model, train_data=dataset(train),
                              val_data=None if valid is None else dataset(valid),
                              batch_size=batch_size)


def _fit_ktrain(classifier, train, valid, epochs, batch_size, learning_rate, verbose) -> dict:
    learner = _learner(classifier, train, valid, batch_size)
    return learner.fit_onecycle(learning_rate, epochs, verbose=verbose).history


def lr_find(classifier: TransformerClassifier, train: TextDataset, plot_path: str | os.PathLike,
            batch_size: int = 32, start_lr: float = 1e-7, max_epochs: int = 1,
            verbose: int = 1) -> dict:
    """ktrain's learning-rate range test; the classifier's weights are restored afterwards.

    Saves loss vs. learning rate to `plot_path` (PNG) and returns the curve and ktrain's
    estimates: {"lrs", "losses", "min_loss_lr_div_10", "steepest_lr", "valley_lr"}.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    learner = _learner(classifier, train, None, batch_size)
    learner.lr_find(start_lr=start_lr, max_epochs=max_epochs, verbose=verbose)
    finder = learner.lr_finder
    steepest, min_div_10, valley = finder.estimate_lr()
    lrs, losses = [float(v) for v in finder.lrs], [float(v) for v in finder.losses]

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(lrs, losses)
    ax.axvline(valley, color="tab:red", linestyle="--", label=f"valley {valley:.1e}")
    ax.set(xscale="log", xlabel="learning rate (log scale)", ylabel="training loss",
           title=f"lr_find: {len(train):,} documents, batch {batch_size}")
    ax.legend()
    fig.tight_layout()
    with atomic_path(Path(plot_path)) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return {"lrs": lrs, "losses": losses, "min_loss_lr_div_10": float(min_div_10),
            "steepest_lr": None if steepest is None else float(steepest),
            "valley_lr": float(valley)}

