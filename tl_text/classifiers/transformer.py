"""Pretrained transformers behind the classifier protocol: fine-tuned, or a frozen probe.

    TransformerTextClassifier("minilm", epochs=3).fit(train)      # BERT/ELECTRA fine-tuning
    TransformerTextClassifier(init_from=amazon_minilm).fit(train) # sequential transfer
    FrozenEncoderLR("minilm").fit(train)     # logistic regression on mean-pooled features

The network is `tl_text.models.TransformerClassifier` (a transformers TF model and its
tokenizer); exports tokenise in the graph (`tl_text.export.wordpiece`,
`tl_text.export.sentencepiece`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tl_text.classifiers.base import TextClassifier, load_classifier
from tl_text.data.dataset import TextDataset
from tl_text.errors import ConfigError

HUGGINGFACE = "huggingface"  # the network in the Hugging Face layout, beside the SavedModel


class _TransformerBase(TextClassifier):
    """The network (`network_`) and its in-graph tokenising scorer."""

    def _network(self, start, label_names, attention_dropout=None):
        from tl_text.models.transformer import TransformerClassifier

        return TransformerClassifier.from_pretrained(start, label_names, self.max_length,
                                                     self.truncation, attention_dropout)

    def _traced(self):
        """(scorer, description) of the fitted network, built once per fit."""
        from tl_text.export.savedmodel import transformer_scorer

        self._check_fitted()
        if getattr(self, "_scorer_for", None) is not self.network_:
            self._scratch = tempfile.TemporaryDirectory(prefix="tl_text-vocab-")
            self._scorer = transformer_scorer(self.network_,
                                              Path(self._scratch.name) / "vocab.txt")
            self._scorer_for = self.network_
        return self._scorer

    def describe(self) -> dict[str, Any]:
        return {**self._traced()[1], **super().describe()}

    def _write_state(self, folder: Path) -> None:
        self.network_.save_pretrained(folder / HUGGINGFACE)


class TransformerTextClassifier(_TransformerBase):
    """Fine-tunes every weight of `pretrained` (or of the saved classifier `init_from`):
    native AdamW with warm-up, or ktrain's one-cycle policy (`trainer`). `precision`
    "bfloat16" builds the network under Keras `mixed_bfloat16` (bfloat16 compute, float32
    weights), for training, prediction and a reloaded classifier alike. `strategy`,
    `checkpoint_dir` and `checkpoint_every`: as for `CNNClassifier` (checkpoints: native
    trainer only). `freeze_embeddings` keeps the word-embedding table as pretrained
    (positions, layer norms and every layer still train): e5's 250,037 x 384 table is 96 M of
    its 118 M parameters, which AdamW would otherwise update densely at every step.
    `attention_dropout` replaces the pretrained dropout rate on the attention probabilities
    in training (None keeps it: 0.1 for MiniLM); 0 skips drawing a random number for each of
    the batch x heads x length^2 attention weights, the largest cost of a bfloat16 MiniLM step
    after the matrix products (benchmarks/results/minilm-train-speed.md)."""

    kind = "transformer"

    def __init__(self, pretrained: str = "minilm", max_length: int = 256,
                 truncation: str = "head+tail", epochs: int = 3, batch_size: int = 16,
                 learning_rate: float = 5e-5, trainer: str = "native",
                 init_from: "TransformerTextClassifier | str | os.PathLike | None" = None,
                 seed: int = 0, verbose: int = 0, precision: str = "float32",
                 strategy: str = "default", checkpoint_dir: str | os.PathLike | None = None,
                 checkpoint_every: int = 0, freeze_embeddings: bool = False,
                 attention_dropout: float | None = None):
        from tl_text.training.distribute import check_strategy

        check_strategy(strategy)
        self.strategy, self.checkpoint_dir = strategy, checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.pretrained, self.max_length, self.truncation = pretrained, max_length, truncation
        self.epochs, self.batch_size, self.learning_rate = epochs, batch_size, learning_rate
        self.trainer, self.init_from, self.seed, self.verbose = trainer, init_from, seed, verbose
        self.precision, self.freeze_embeddings = precision, freeze_embeddings
        self.attention_dropout = attention_dropout

    def get_config(self) -> dict[str, Any]:
        source = self.init_from
        if isinstance(source, TransformerTextClassifier):
            source = getattr(source, "saved_to_", None) or "<in memory>"
        return {"pretrained": self.pretrained, "max_length": self.max_length,
                "truncation": self.truncation, "epochs": self.epochs,
                "batch_size": self.batch_size, "learning_rate": self.learning_rate,
                "trainer": self.trainer, "init_from": None if source is None else str(source),
                "seed": self.seed, "precision": self.precision, "strategy": self.strategy,
                "freeze_embeddings": self.freeze_embeddings,
                "attention_dropout": self.attention_dropout}

    def _fit(self, train: TextDataset, valid: TextDataset | None) -> dict:
        from tl_text.models.precision import policy
        from tl_text.training import fit_transformer
        from tl_text.training.distribute import get_strategy, scope

        strategy = get_strategy(self.strategy)
        with policy(self.precision), scope(strategy):
            self.network_ = self._network(self._start(), train.label_names,
                                          self.attention_dropout)
            if self.freeze_embeddings:
                self.network_.freeze_word_embeddings()
        checkpoints = self._checkpoint_folder("transformer", train) \
            if self.trainer == "native" else None
        result = fit_transformer(self.network_, train, valid, self.epochs, self.batch_size,
                                 self.learning_rate, trainer=self.trainer, seed=self.seed,
                                 verbose=self.verbose, strategy=strategy,
                                 checkpoint_dir=checkpoints,
                                 checkpoint_every=self.checkpoint_every)
        frozen = ", word embeddings frozen" if self.freeze_embeddings else ""
        dropout = "" if self.attention_dropout is None else \
            f", attention dropout {self.attention_dropout:g}"
        return {"epochs": self.epochs, "seconds_per_epoch": round(result.seconds_per_epoch, 2),
                "notes": f"{self.trainer} trainer, {self.precision}{frozen}{dropout}"}

    def _start(self) -> str:
        """Where fine-tuning starts: the pretrained weights, or a saved classifier's."""
        source = self.init_from
        if source is None:
            return self.pretrained
        if not isinstance(source, TransformerTextClassifier):
            source = load_classifier(source)
        folder = getattr(source, "saved_to_", None)
        if folder is None:
            raise ConfigError("init_from: save the source transformer first (its weights are "
                              "read from its export)")
        return str(Path(folder) / HUGGINGFACE)

    def predict_proba(self, texts, batch_size: int = 64) -> np.ndarray:
        self._check_fitted()
        return self.network_.predict_proba(list(texts), batch_size)

    def scorer(self):
        return self._traced()[0]

    @classmethod
    def _from_state(cls, folder: Path, metadata: dict[str, Any]) -> "TransformerTextClassifier":
        from tl_text.models.precision import policy

        classifier = cls(**metadata["classifier"]["config"])
        with policy(classifier.precision):
            classifier.network_ = classifier._network(folder / HUGGINGFACE, metadata["labels"])
        return classifier


class FrozenEncoderLR(_TransformerBase):
    """Logistic regression (L2, `C`) on the frozen encoder's standardised mean-pooled
    features; the standardisation is folded into the exported linear layer."""

    kind = "frozen-lr"

    def __init__(self, pretrained: str = "minilm", max_length: int = 256,
                 truncation: str = "head+tail", C: float = 0.1):
        self.pretrained, self.max_length, self.truncation, self.C = (
            pretrained, max_length, truncation, C)

    def get_config(self) -> dict[str, Any]:
        return {"pretrained": self.pretrained, "max_length": self.max_length,
                "truncation": self.truncation, "C": self.C}

    def _fit(self, train: TextDataset, valid: TextDataset | None) -> dict:
        from tl_text.training.logistic import fit_logistic_regression

        self.network_ = self._network(self.pretrained, train.label_names)
        features = self.network_.features(train.texts)
        mean, scale = features.mean(axis=0), features.std(axis=0)
        scale[scale == 0] = 1.0
        coef, intercept = fit_logistic_regression((features - mean) / scale, train.labels,
                                                  self.C)
        self.coef_ = (coef / scale[:, None]).astype(np.float32)
        self.intercept_ = (intercept - mean / scale @ coef).astype(np.float32)
        return {"notes": "mean-pooled features"}

    def predict_proba(self, texts, batch_size: int = 64) -> np.ndarray:
        self._check_fitted()
        logits = self.network_.features(list(texts), batch_size) @ self.coef_ + self.intercept_
        return _probabilities(tf.constant(logits)).numpy()

    def scorer(self):
        scorer, _ = self._traced()
        return _ProbeScorer(scorer, self.network_, self.coef_, self.intercept_)

    def _write_state(self, folder: Path) -> None:
        super()._write_state(folder)
        np.save(folder / "probe_coef.npy", self.coef_, allow_pickle=False)
        np.save(folder / "probe_intercept.npy", self.intercept_, allow_pickle=False)

    @classmethod
    def _from_state(cls, folder: Path, metadata: dict[str, Any]) -> "FrozenEncoderLR":
        classifier = cls(**metadata["classifier"]["config"])
        classifier.network_ = classifier._network(folder / HUGGINGFACE, metadata["labels"])
        classifier.coef_ = np.load(folder / "probe_coef.npy", allow_pickle=False)
        classifier.intercept_ = np.load(folder / "probe_intercept.npy", allow_pickle=False)
        return classifier


class _ProbeScorer(tf.Module):
    """In-graph tokeniser -> mean-pooled encoder states -> linear layer -> probabilities."""

    def __init__(self, transformer_scorer, network, coef, intercept):
        super().__init__(name="probe_scorer")
        self.tokenizer = transformer_scorer.tokenizer
        self.model_variables = transformer_scorer.model_variables
        self.pooled = lambda inputs: network._mean_pooled(inputs)  # not tracked (see above)
        self.coef = tf.Variable(coef, trainable=False, name="coef")
        self.intercept = tf.Variable(intercept, trainable=False, name="intercept")

    def __call__(self, text):
        features = self.pooled(self.tokenizer(text))
        return _probabilities(tf.matmul(features, self.coef) + self.intercept)


def _probabilities(logits: tf.Tensor) -> tf.Tensor:
    """Softmax over classes; one logit column (binary) is the second class's log-odds."""
    if logits.shape[-1] == 1:
        logits = tf.concat([tf.zeros_like(logits), logits], axis=-1)
    return tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
