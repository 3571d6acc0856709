"""CNN classifiers: the vectoriser, the embedding matrix and the network in one estimator.

    clf = CNNClassifier("denil").fit(train)                  # GloVe 6B-50d, trainable
    source = CNNClassifier("denil", epochs=8, min_epochs=0).fit(amazon)
    CNNClassifier("denil", init_from=source, transfer="network").fit(imdb_small)

`fit` holds out a stratified `validation` split for early stopping unless given `valid`,
learns a vocabulary on the training texts ("words": GloVe-style words; "wordpiece" or
"char": `tl_text.models.subword`), builds the embedding matrix (pretrained `vectors`, or
random with `embedding_dim` when `vectors` is None) and trains the network. With `init_from`
(a fitted CNNClassifier or the path of a saved one), the source's tuned word vectors replace
the pretrained ones ("embeddings"), and with `transfer="network"` every other weight is
copied from the source too (same architecture, any vocabulary). `strategy` ("default",
"mirrored" or "multiworker", `tl_text.training.distribute`) builds and trains the network in
that tf.distribute strategy, `batch_size` and `learning_rate` per replica (both scale with
the replicas). With `checkpoint_dir`, the fit checkpoints every epoch (and every
`checkpoint_every` steps) in a subfolder keyed by the config and the data, and a fit killed
midway resumes there when run again. `precision="bfloat16"` trains and runs the network
with bfloat16 compute (`tl_text.models.precision`); its variables and probabilities stay
float32.
"""

from __future__ import annotations

import functools
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from tl_text.classifiers.base import TextClassifier, load_classifier
from tl_text.data.dataset import TextDataset
from tl_text.errors import ConfigError

ARCHITECTURES = ("denil", "kim")
TOKENS = ("words", "wordpiece", "char")
TRANSFERS = ("embeddings", "network")
STATE = "cnn.json"


class CNNClassifier(TextClassifier):
    """Kim (2014) or Denil et al. (2014) CNN on raw strings; see the module docstring."""

    kind = "cnn"

    def __init__(self, architecture: str = "denil", vectors: str | None = "glove-6b-50d",
                 init_from: "CNNClassifier | str | os.PathLike | None" = None,
                 transfer: str = "network", tokens: str = "words", max_tokens: int = 30_000,
                 sequence_length: int = 400, embedding_dim: int = 128,
                 trainable_embeddings: bool = True, epochs: int = 20, patience: int = 2,
                 min_epochs: int = 4, batch_size: int = 32, learning_rate: float = 1e-3,
                 schedule: str = "constant", validation: float = 0.1,
                 precision: str = "float32", strategy: str = "default",
                 checkpoint_dir: str | os.PathLike | None = None, checkpoint_every: int = 0,
                 seed: int = 0, verbose: int = 0):
        from tl_text.models.precision import check_precision
        from tl_text.training.distribute import check_strategy

        for name, value, allowed in (("architecture", architecture, ARCHITECTURES),
                                     ("tokens", tokens, TOKENS),
                                     ("transfer", transfer, TRANSFERS)):
            if value not in allowed:
                raise ConfigError(f"{name} must be one of {allowed}, not {value!r}")
        if architecture == "denil" and tokens != "words":
            raise ConfigError("the Denil CNN splits sentences into words: use tokens='words'")
        check_precision(precision)
        check_strategy(strategy)
        self.architecture, self.vectors, self.init_from = architecture, vectors, init_from
        self.transfer, self.tokens, self.max_tokens = transfer, tokens, max_tokens
        self.sequence_length, self.embedding_dim = sequence_length, embedding_dim
        self.trainable_embeddings = trainable_embeddings
        self.epochs, self.patience, self.min_epochs = epochs, patience, min_epochs
        self.batch_size, self.learning_rate = batch_size, learning_rate
        self.schedule, self.validation, self.precision = schedule, validation, precision
        self.strategy, self.checkpoint_dir = strategy, checkpoint_dir
        self.checkpoint_every, self.seed, self.verbose = checkpoint_every, seed, verbose

    def get_config(self) -> dict[str, Any]:
        source = self.init_from
        if isinstance(source, CNNClassifier):
            source = getattr(source, "saved_to_", None) or "<in memory>"
        return {"architecture": self.architecture, "vectors": self.vectors,
                "init_from": None if source is None else str(source),
                "transfer": self.transfer, "tokens": self.tokens, "max_tokens": self.max_tokens,
                "sequence_length": self.sequence_length, "embedding_dim": self.embedding_dim,
                "trainable_embeddings": self.trainable_embeddings, "epochs": self.epochs,
                "patience": self.patience, "min_epochs": self.min_epochs,
                "batch_size": self.batch_size, "learning_rate": self.learning_rate,
                "schedule": self.schedule, "validation": self.validation,
                "precision": self.precision, "strategy": self.strategy, "seed": self.seed}

    # --- fitting --------------------------------------------------------------------------

    def _fit(self, train: TextDataset, valid: TextDataset | None) -> dict:
        import tf_keras

        from tl_text.training import fit
        from tl_text.training.distribute import get_strategy, scope

        strategy = get_strategy(self.strategy)
        source = self._source()  # before seeding: loading one builds a network
        tf_keras.utils.set_random_seed(self.seed)
        if valid is None:
            train, valid = train.split(self.validation, seed=self.seed)
        vectorizer, self.vocabulary_ = self._vectorizer(train.texts)
        matrix, notes = self._matrix(source)
        with scope(strategy):
            self.model_ = self._network(vectorizer, matrix, len(train.label_names))
            if source is not None and self.transfer == "network":
                notes += _copy_non_embedding_weights(source.model_, self.model_)
        result = fit(self.model_, train, valid, self.epochs, self.batch_size,
                     self.learning_rate, self.patience, seed=self.seed, verbose=self.verbose,
                     schedule=self.schedule, min_epochs=self.min_epochs, strategy=strategy,
                     checkpoint_dir=self._checkpoint_folder(f"cnn-{self.architecture}",
                                                            train, valid),
                     checkpoint_every=self.checkpoint_every)
        return {"epochs": result.best_epoch + 1,
                "seconds_per_epoch": round(result.seconds_per_epoch, 2),
                "validation_accuracy": round(result.history["val_accuracy"][result.best_epoch],
                                             4),
                "notes": "; ".join(notes)}

    def fit_stream(self, paths, **options) -> "CNNClassifier":
        """Train from source files streamed at constant memory (`tl_text.training.stream`)
        instead of a TextDataset: a word vocabulary from one pass over the training part, the
        `validation` share held out by a hash of each text, `epochs` passes over the files.
        `options` go to the readers (table columns and labels, skip_empty)."""
        import tf_keras

        from tl_text.data.stream import label_names
        from tl_text.models import vectorizer_from_vocabulary
        from tl_text.training.distribute import get_strategy, scaled, scope
        from tl_text.training.stream import fit_stream, stream_vocabulary

        if self.tokens != "words" or self.schedule != "constant":
            raise ConfigError("a streamed fit takes tokens='words' and schedule='constant'")
        started = time.perf_counter()
        paths = [str(p) for p in paths]
        source = self._source()
        tf_keras.utils.set_random_seed(self.seed)
        self.label_names_ = label_names(paths[0], options.get("labels"))
        self.__dict__.pop("_predict_function", None)
        self.vocabulary_ = stream_vocabulary(paths, self.max_tokens, self.validation, **options)
        matrix, notes = self._matrix(source)
        strategy = get_strategy(self.strategy)
        with scope(strategy):
            self.model_ = self._network(vectorizer_from_vocabulary(self.vocabulary_,
                                                                   self.sequence_length),
                                        matrix, len(self.label_names_))
            if source is not None and self.transfer == "network":
                notes += _copy_non_embedding_weights(source.model_, self.model_)
        global_batch, rate = scaled(strategy, self.batch_size, self.learning_rate)
        result = fit_stream(self.model_, paths, self.epochs, global_batch, rate,
                            self.patience, self.min_epochs, validation=self.validation,
                            seed=self.seed, verbose=self.verbose, strategy=strategy, **options)
        self.fit_info_ = {"epochs": result.best_epoch + 1,
                          "seconds_per_epoch": round(result.seconds_per_epoch, 2),
                          "validation_accuracy": round(
                              result.history["val_accuracy"][result.best_epoch], 4),
                          "notes": "; ".join(notes + ["streamed from " + ", ".join(paths)]),
                          "fit_seconds": round(time.perf_counter() - started, 2)}
        return self

    def _source(self) -> "CNNClassifier | None":
        source = self.init_from
        if source is None:
            return None
        if not isinstance(source, CNNClassifier):
            source = load_classifier(source)
            if not isinstance(source, CNNClassifier):
                raise ConfigError(f"init_from {self.init_from}: not a saved CNN classifier")
        if not hasattr(source, "model_"):
            raise ConfigError("init_from: the source CNN is not fitted")
        if self.transfer == "network" and source.architecture != self.architecture:
            raise ConfigError(f"transfer='network' needs a {self.architecture} source, not "
                              f"{source.architecture}")
        return source

    def _vectorizer(self, texts: list[str]):
        from tl_text.models import make_vectorizer, vocabulary, vectorizer_from_vocabulary
        from tl_text.models.subword import make_piece_vectorizer

        if self.tokens == "words":
            words = vocabulary(make_vectorizer(texts, self.max_tokens, self.sequence_length))
            return vectorizer_from_vocabulary(words, self.sequence_length), words
        vectorizer, _ = make_piece_vectorizer(texts, self.tokens, self.max_tokens,
                                              self.sequence_length)
        return vectorizer, list(vectorizer.vocabulary)

    def _matrix(self, source: "CNNClassifier | None") -> tuple[np.ndarray, list[str]]:
        from tl_text.embeddings import build_matrix, update_embeddings

        if self.vectors is None:
            rng = np.random.default_rng(self.seed)
            matrix = rng.normal(scale=0.05, size=(len(self.vocabulary_), self.embedding_dim))
            matrix[0] = 0
            notes = [f"{len(self.vocabulary_):,} {self.tokens} tokens, random embeddings"]
        else:
            matrix, coverage = build_matrix(_vectors(self.vectors), self.vocabulary_,
                                            seed=self.seed)
            notes = [f"GloVe {coverage.found:,}/{coverage.total:,} words"]
        if source is not None:
            matrix, updated = update_embeddings(matrix, self.vocabulary_, source.word_vectors())
            notes.append(str(updated))
        return matrix.astype(np.float32), notes

    def _network(self, vectorizer, matrix: np.ndarray, classes: int):
        from tl_text.models import denil_cnn, kim_cnn
        from tl_text.models.precision import policy

        build = kim_cnn if self.architecture == "kim" else denil_cnn
        with policy(self.precision):
            return build(vectorizer, matrix, num_classes=classes,
                         trainable_embeddings=self.trainable_embeddings)

    # --- using and saving -----------------------------------------------------------------

    def scorer(self):
        from tl_text.export.savedmodel import inference_model

        self._check_fitted()
        return inference_model(self.model_)

    def with_precision(self, precision: str) -> "CNNClassifier":
        """A fitted copy computing in `precision`, with the same weights (e.g. a float32-trained
        CNN exported in bfloat16)."""
        self._check_fitted()
        copy = type(self)(**{**self.get_config(), "init_from": self.init_from,
                             "precision": precision, "verbose": self.verbose})
        copy.vocabulary_, copy.label_names_ = self.vocabulary_, self.label_names_
        copy.fit_info_ = dict(getattr(self, "fit_info_", {}))
        matrix = np.zeros(self.model_.get_layer("embedding").get_weights()[0].shape, np.float32)
        copy.model_ = copy._network(copy._vocabulary_vectorizer(), matrix,
                                    len(self.label_names_))
        copy.model_.set_weights(self.model_.get_weights())
        return copy

    def word_vectors(self):
        """The tuned embedding rows as `WordVectors` (no padding or "[UNK]")."""
        from tl_text.embeddings import vectors_from_matrix
        from tl_text.models import embedding_weights

        return vectors_from_matrix(self.vocabulary_, embedding_weights(self.model_))

    def _write_state(self, folder: Path) -> None:
        state = {"vocabulary": self.vocabulary_, "classes": len(self.label_names_),
                 "embedding_dim": int(self.model_.get_layer("embedding").output_dim)}
        (folder / STATE).write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def _from_state(cls, folder: Path, metadata: dict[str, Any]) -> "CNNClassifier":
        from tl_text.export.savedmodel import restore_variables

        config = dict(metadata["classifier"]["config"])
        state = json.loads((folder / STATE).read_text(encoding="utf-8"))
        classifier = cls(**config)
        classifier.vocabulary_ = state["vocabulary"]
        matrix = np.zeros((len(state["vocabulary"]), state["embedding_dim"]), np.float32)
        classifier.model_ = classifier._network(classifier._vocabulary_vectorizer(), matrix,
                                                state["classes"])
        restore_variables(folder, classifier.model_)
        return classifier

    def _vocabulary_vectorizer(self):
        """The vectoriser of the learned `vocabulary_`."""
        from tl_text.models import vectorizer_from_vocabulary
        from tl_text.models.subword import PieceVectorizer

        if self.tokens == "words":
            return vectorizer_from_vocabulary(self.vocabulary_, self.sequence_length)
        return PieceVectorizer(self.vocabulary_, self.tokens, self.sequence_length)


@functools.lru_cache(maxsize=2)
def _vectors(name: str):
    """Pretrained vectors, read once per process."""
    from tl_text.embeddings import load_vectors

    return load_vectors(name)


def _copy_non_embedding_weights(source, target) -> list[str]:
    """Same architecture, any vocabulary: copy every weight but the embedding rows (and the
    output layer's when the class counts differ); notes on what was not copied."""
    notes = []
    for src, dst in zip(source.layers, target.layers):
        if dst.name == "embedding" or not dst.get_weights():
            continue
        weights = src.get_weights()
        if [w.shape for w in weights] != [w.shape for w in dst.get_weights()]:
            notes.append(f"layer {dst.name} not copied (source shapes differ)")
            continue
        dst.set_weights(weights)
    return notes
