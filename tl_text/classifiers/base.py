"""The protocol every tl_text classifier follows, whatever the model family.

    clf = SomeClassifier(option=...)            # options only; nothing learnt yet
    clf.fit(train, valid)                       # TextDatasets; returns clf
    clf.predict_proba(["A gem of a film."])     # float32 [n, classes], raw strings in
    clf.label_names_                            # class names, in probability-column order
    clf.export("saved_models/name")             # TF Serving SavedModel, raw strings in
    clf.save("folder"); load_classifier("folder")   # the export, plus what refitting needs

Options are constructor arguments (`get_config()` returns them); what `fit` learns ends with
an underscore. Every classifier builds a *scorer*: a TensorFlow callable from a batch of raw
strings to float32 class probabilities, which `export` saves with the serving signature.
"""

from __future__ import annotations

import abc
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tl_text.data.dataset import TextDataset
from tl_text.errors import ConfigError
from tl_text.export.savedmodel import export_scorer, load_exported

REGISTRY: dict[str, type["TextClassifier"]] = {}


class TextClassifier(abc.ABC):
    """Base class: subclasses implement `_fit`, `scorer`, `get_config` and, to be loadable,
    `_write_state` / `_from_state`. `kind` names the family in saved metadata."""

    kind: str = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("kind"):  # a subclass that inherits its kind does not replace it
            REGISTRY[cls.kind] = cls

    # --- the protocol -----------------------------------------------------------------------

    def fit(self, train: TextDataset, valid: TextDataset | None = None) -> "TextClassifier":
        """Learn from `train` (and `valid`, for early stopping where the family uses it)."""
        if len(train) == 0:
            raise ConfigError(f"{train.name}: no training documents")
        present = np.unique(train.labels)
        if len(present) < 2:
            raise ConfigError(f"{train.name}: training needs at least two classes, found "
                              f"only {[train.label_names[i] for i in present]}")
        started = time.perf_counter()
        self.label_names_ = tuple(train.label_names)
        self.__dict__.pop("_predict_function", None)
        self.fit_info_ = self._fit(train, valid) or {}
        self.fit_info_["fit_seconds"] = round(time.perf_counter() - started, 2)
        return self

    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Class probabilities, float32 [len(texts), classes]."""
        import tensorflow as tf

        self._check_fitted()
        if "_predict_function" not in self.__dict__:
            scorer = self.scorer()
            self._predict_function = tf.function(
                lambda text: scorer(text), input_signature=[tf.TensorSpec([None], tf.string)])
        return _batched(self._predict_function, list(texts), batch_size,
                        len(self.label_names_))

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The most probable label name of each text."""
        return [self.label_names_[i] for i in self.predict_proba(texts).argmax(axis=1)]

    def export(self, base_path: str | os.PathLike, metadata: dict[str, Any] | None = None,
               version: int | None = None, name: str | None = None) -> Path:
        """A TF Serving SavedModel version under `base_path` (raw strings in); see
        `tl_text.export.export_scorer`. Returns the version folder."""
        self._check_fitted()
        metadata = {"fit_info": self.fit_info_, **(metadata or {})}
        folder = export_scorer(self.scorer(), base_path, self.label_names_, self.describe(),
                               metadata=metadata, version=version, name=name,
                               write_state=self._write_state)
        self.saved_to_ = str(folder)
        return folder

    save = export  # the export is the saved form: `load_classifier` reads it back

    def spec(self) -> dict[str, Any]:
        """{"kind", "config"}: what `load_classifier` needs to rebuild this classifier."""
        return {"kind": self.kind, "config": self.get_config()}

    def describe(self) -> dict[str, Any]:
        """What metadata.json says about the model: its family and options."""
        return {"model": type(self).__name__, "model_type": self.kind,
                "classifier": self.spec()}

    # --- for subclasses ---------------------------------------------------------------------

    @abc.abstractmethod
    def get_config(self) -> dict[str, Any]:
        """The constructor options, JSON-serialisable."""

    @abc.abstractmethod
    def _fit(self, train: TextDataset, valid: TextDataset | None) -> dict | None:
        """Learn; return notes for the experiment tables (epochs, seconds per epoch, ...)."""

    @abc.abstractmethod
    def scorer(self):
        """A tf.Module or tf_keras.Model: raw strings [batch] -> float32 [batch, classes]."""

    def _write_state(self, folder: Path) -> None:
        """Write what `_from_state` needs beside the SavedModel (nothing by default)."""

    @classmethod
    def _from_state(cls, folder: Path, metadata: dict[str, Any]) -> "TextClassifier":
        raise ConfigError(f"{folder}: {cls.__name__} exports cannot be loaded for training")

    def _checkpoint_folder(self, name: str, *datasets: TextDataset) -> Path | None:
        """Where a fit keeps its checkpoints (None without a `checkpoint_dir` option): a
        folder of `checkpoint_dir` named `name` and a hash of the config and of the
        documents of `datasets`, so that the same command finds it again."""
        if getattr(self, "checkpoint_dir", None) is None:
            return None
        key = hashlib.sha1(json.dumps([self.get_config(), *(d.ids for d in datasets)],
                                      sort_keys=True).encode()).hexdigest()[:12]
        return Path(self.checkpoint_dir) / f"{name}-{key}"

    def _check_fitted(self) -> None:
        if not hasattr(self, "label_names_"):
            raise ConfigError(f"this {type(self).__name__} is not fitted yet: call fit first")


def load_classifier(path: str | os.PathLike) -> TextClassifier:
    """The classifier saved at `path` (base path, highest version; or a version folder),
    rebuilt as its own class so that it can be fitted further or used as a source."""
    exported = load_exported(path)
    described = exported.metadata.get("classifier")
    if not described or described.get("kind") not in REGISTRY:
        raise ConfigError(f"{exported.path} was not saved by a tl_text classifier "
                          f"(metadata.json has no known 'classifier' entry)")
    cls = REGISTRY[described["kind"]]
    classifier = cls._from_state(exported.path, exported.metadata)
    classifier.label_names_ = tuple(exported.metadata["labels"])
    classifier.fit_info_ = dict(exported.metadata.get("fit_info", {}))
    classifier.saved_to_ = str(exported.path)
    return classifier


def _batched(scorer, texts: list[str], batch_size: int, classes: int) -> np.ndarray:
    """Run `scorer` over `texts` in batches of similar length (transformers pad per batch)."""
    import tensorflow as tf

    if not texts:
        return np.zeros((0, classes), np.float32)
    order = np.argsort([len(text) for text in texts], kind="stable")
    out = np.empty((len(texts), classes), np.float32)
    for start in range(0, len(texts), batch_size):
        rows = order[start:start + batch_size]
        batch = tf.constant([texts[i] for i in rows], tf.string)
        out[rows] = np.asarray(scorer(batch), np.float32)
    return out
