"""TF-Hub text-embedding modules: any text encoder saved so that `hub.KerasLayer` reads it.

    export_text_embedding(penultimate_encoder(cnn.model_), "saved_models/cnn-encoder")
    layer = hub.KerasLayer("saved_models/cnn-encoder", trainable=True)   # strings -> [n, dim]

The module follows TF-Hub's Reusable SavedModel API: a `__call__` tf.function from a batch of
strings (and a Python `training` flag, traced both ways) to float32 `[batch, dim]`, and the
`variables`, `trainable_variables` and `regularization_losses` lists that `hub.KerasLayer`
tracks, so it can be fine-tuned. hub.json beside saved_model.pb records the dimension and
what the encoder is. The module is written to a temporary folder and renamed at the end.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import tensorflow as tf
import tf_keras

from tl_text.atomic import atomic_folder
from tl_text.errors import ConfigError, TlTextError

INFO = "hub.json"


class _TextEmbedding(tf.Module):
    """Strings [batch] -> float32 [batch, dim], through `encoder(text, training=...)`."""

    def __init__(self, encoder):
        super().__init__(name="text_embedding")
        self.encoder = encoder

    @tf.function
    def __call__(self, text, training=False):
        return tf.cast(self.encoder(text, training=training), tf.float32)


def export_text_embedding(encoder, path: str | os.PathLike,
                          described: dict[str, Any] | None = None) -> Path:
    """Save `encoder` (a tf_keras.Model or tf.Module called as `encoder(text, training=...)`,
    strings [batch] -> [batch, dim]) as a TF-Hub text-embedding module in `path` (a new
    folder). `described` (JSON) goes into hub.json. Returns the folder."""
    target = Path(path).expanduser()
    if target.exists():
        raise ConfigError(f"{target} already exists; choose a new folder for the module")
    module = _TextEmbedding(encoder)
    spec = tf.TensorSpec([None], tf.string, name="text")
    for training in (False, True):
        traced = module.__call__.get_concrete_function(spec, training)
    dim = traced.structured_outputs.shape[-1]
    if traced.structured_outputs.shape.rank != 2 or dim is None:
        raise ConfigError(f"the encoder must output [batch, dim], not "
                          f"{traced.structured_outputs.shape}")
    root = tf.__internal__.tracking.AutoTrackable()
    root.module = module
    root.__call__ = module.__call__
    root.variables = list(encoder.variables)
    root.trainable_variables = list(encoder.trainable_variables)
    root.regularization_losses = []
    info = {"format": "TF-Hub text embedding (Reusable SavedModel)", "dim": int(dim),
            "inputs": "string [batch]", "outputs": f"float32 [batch, {dim}]",
            "tensorflow": tf.__version__, **(described or {})}
    try:
        json.dumps(info)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"described must be JSON-serialisable: {err}") from err
    with atomic_folder(target) as staging:
        tf.saved_model.save(root, str(staging))
        (staging / INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return target


def penultimate_encoder(model: tf_keras.Model) -> tf_keras.Model:
    """A tl_text Keras classifier (raw strings in) up to the features its output layer reads
    (before the dropout in front of it): the document encoder, sharing the model's layers."""
    layer = model.get_layer("probabilities") if "probabilities" in [
        layer.name for layer in model.layers] else model.layers[-1]
    features = layer.input
    while isinstance(features._keras_history.layer, tf_keras.layers.Dropout):
        features = features._keras_history.layer.input
    if features.shape.rank != 2:
        raise ConfigError(f"{model.name}: the output layer reads {features.shape}, not "
                          "[batch, dim] features")
    return tf_keras.Model(model.inputs, features, name=f"{model.name}_encoder")


def module_info(path: str | os.PathLike) -> dict[str, Any]:
    """hub.json of a module exported by tl_text ({} for other modules)."""
    info = Path(path).expanduser() / INFO
    if not info.is_file():
        return {}
    try:
        return json.loads(info.read_text(encoding="utf-8"))
    except ValueError as err:
        raise TlTextError(f"{info} is not valid JSON: {err}") from err
