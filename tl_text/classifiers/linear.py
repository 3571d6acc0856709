"""Linear text classifiers built as TensorFlow graphs: NB-weighted and TF-IDF logistic regression.

    clf = NBLogisticRegression().fit(train)          # binary uni+bigrams, Wang & Manning (2012)
    clf = TfidfLogisticRegression(C=10.0).fit(train)
    clf.export("saved_models/nb-lr")                 # raw strings in, like the CNNs

Tokenisation, n-grams, the vocabulary lookup, the feature weighting and the linear layer are
all TensorFlow ops (`tl_text.models.ngrams`). Fitting builds scikit-learn's vocabulary with
those ops, counts the training n-grams with the same lookup the graph uses and solves
scikit-learn's logistic-regression objective (`tl_text.training.logistic`): the probabilities
are those of the scikit-learn models in `tl_text.models.linear`, up to their solver tolerance.

NB-LR with more than two classes: class k's features are scaled by its one-vs-rest ratio
r_k (class k against all others) under a multinomial softmax head, the L2 penalty on the
unscaled weights; with two classes this is exactly Wang & Manning's binary model.

`coef_` is [features, outputs] (one output, the second class's logit, for two classes), the
transpose of scikit-learn's layout; `vocabulary_` lists the n-grams in column order.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from scipy import sparse
from scipy.sparse import linalg as sparse_linalg

from tl_text.classifiers.base import TextClassifier
from tl_text.data.dataset import TextDataset
from tl_text.errors import ConfigError
from tl_text.models.ngrams import (TOKEN_PATTERN, Analyzer, NgramLookup, check_min_df,
                                   count_matrix, vocabulary)
from tl_text.models.subword import train_wordpiece, wordpiece_vocabulary
from tl_text.training.logistic import fit_logistic_regression

STATE = "linear"  # beside the SavedModel: the vocabulary and the learnt arrays
VOCABULARY, PIECES, ARRAYS = "vocabulary.txt", "pieces.txt", "arrays.npz"
PARTS = 4  # a batch is scored in independent parts: TensorFlow runs them on parallel threads,
# and each part's hash maps stay small enough for the cache


class LinearScorer(tf.Module):
    """Raw strings [batch] -> n-gram features -> linear layer -> probabilities [batch, classes].

    The features are binary (a binary `lookup`, no `idf`) or TF-IDF (count, or 1 + log count
    if `sublinear_tf`, times `idf`; rows scaled to unit L2 norm). One weight column means two
    classes (a sigmoid of the second class's logit), more mean a softmax.
    """

    def __init__(self, lookup: NgramLookup, weights: np.ndarray, intercept: np.ndarray,
                 idf: np.ndarray | None = None, sublinear_tf: bool = False):
        super().__init__(name="linear_scorer")
        if lookup.binary != (idf is None):
            raise ConfigError("LinearScorer: binary n-gram features go without idf, counts "
                              "with it")
        self.lookup, self.sublinear_tf = lookup, sublinear_tf
        self.weights = tf.Variable(weights.astype(np.float32), trainable=False, name="weights")
        self.intercept = tf.Variable(intercept.astype(np.float32), trainable=False,
                                     name="intercept")
        self.idf = None if idf is None else tf.Variable(idf.astype(np.float32),
                                                         trainable=False, name="idf")

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, texts: tf.Tensor) -> tf.Tensor:
        bounds = [tf.size(texts) * part // PARTS for part in range(PARTS + 1)]
        return tf.concat([self._probabilities(texts[start:end])
                          for start, end in zip(bounds, bounds[1:])], axis=0)

    def _probabilities(self, texts: tf.Tensor) -> tf.Tensor:
        rows, columns, counts = self.lookup.counts(texts)
        documents = tf.size(texts)
        weights = tf.gather(self.weights, columns)
        if self.idf is None:  # binary features
            logits = tf.math.unsorted_segment_sum(weights, rows, documents)
        else:
            values = tf.cast(counts, tf.float32)
            values = (1 + tf.math.log(values) if self.sublinear_tf else values) * tf.gather(
                self.idf, columns)
            norms = tf.sqrt(tf.math.unsorted_segment_sum(values * values, rows, documents))
            logits = tf.math.divide_no_nan(
                tf.math.unsorted_segment_sum(values[:, None] * weights, rows, documents),
                norms[:, None])
        logits += self.intercept
        if logits.shape[-1] == 1:
            return tf.sigmoid(tf.concat([-logits, logits], axis=1))
        return tf.nn.softmax(logits, axis=-1)


class _LinearClassifier(TextClassifier):
    """n-gram features and logistic regression in one graph; subclasses weight the features."""

    binary_features = False

    def _set_options(self, **options) -> None:
        for name in {"C", "alpha"} & options.keys():
            value = options[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"{name} must be a positive number, got {value!r}")
        for name, value in options.items():
            setattr(self, name, value)
        self._option_names = tuple(options)
        self._analyzer()  # checks the analyzer options

    def get_config(self) -> dict[str, Any]:
        config = {name: getattr(self, name) for name in self._option_names}
        return {**config, "ngram_range": list(self.ngram_range)}

    def _analyzer(self) -> Analyzer:
        pieces = getattr(self, "pieces_", None)
        return Analyzer(self.analyzer, self.ngram_range, self.token_pattern, self.lowercase,
                        self.strip_accents, None if pieces is None else tuple(pieces))

    def _fit(self, train: TextDataset, valid: TextDataset | None) -> dict:
        missing = [name for label, name in enumerate(train.label_names)
                   if not np.any(train.labels == label)]
        if missing:
            raise ConfigError(f"{train.name}: no training documents of class(es) {missing}")
        if self.analyzer == "wordpiece":
            self.pieces_ = wordpiece_vocabulary(train_wordpiece(train.texts, self.wordpiece_size))
        analyzer = self._analyzer()
        self.vocabulary_ = vocabulary(analyzer, train.texts, self._min_df())
        lookup = NgramLookup(analyzer, self.vocabulary_, binary=self.binary_features)
        self._learn(count_matrix(lookup, train.texts), train.labels)
        self._scorer = self._make_scorer(lookup)
        return {"notes": f"{len(self.vocabulary_):,} n-grams"}

    def scorer(self) -> LinearScorer:
        self._check_fitted()
        return self._scorer

    def _min_df(self) -> int | float:
        return 1

    @abc.abstractmethod
    def _learn(self, counts: sparse.csr_matrix, labels: np.ndarray) -> None:
        """Set the learnt arrays from the training n-gram counts [documents, features]."""

    @abc.abstractmethod
    def _make_scorer(self, lookup: NgramLookup) -> LinearScorer:
        """The graph, with the learnt arrays."""

    @abc.abstractmethod
    def _arrays(self) -> dict[str, np.ndarray]:
        """The learnt arrays, by attribute name."""

    def _write_state(self, folder: Path) -> None:
        state = folder / STATE
        state.mkdir()
        for name, lines in ((VOCABULARY, self.vocabulary_),
                            (PIECES, getattr(self, "pieces_", None))):
            if lines is not None:
                (state / name).write_bytes("".join(f"{line}\n" for line in lines)
                                           .encode("utf-8"))
        np.savez(state / ARRAYS, **self._arrays())

    @classmethod
    def _from_state(cls, folder: Path, metadata: dict[str, Any]) -> "_LinearClassifier":
        classifier = cls(**metadata["classifier"]["config"])
        state = folder / STATE
        classifier.vocabulary_ = _read_lines(state / VOCABULARY)
        if (state / PIECES).is_file():
            classifier.pieces_ = _read_lines(state / PIECES)
        with np.load(state / ARRAYS, allow_pickle=False) as arrays:
            for name in arrays.files:
                setattr(classifier, name, arrays[name])
        lookup = NgramLookup(classifier._analyzer(), classifier.vocabulary_,
                             binary=cls.binary_features)
        classifier._scorer = classifier._make_scorer(lookup)
        return classifier


class NBLogisticRegression(_LinearClassifier):
    """Logistic regression on binary n-gram features scaled by naive-Bayes log-count ratios
    r = log((p / |p|_1) / (q / |q|_1)), p and q = `alpha` + feature counts in the documents of
    the class and of the others (Wang & Manning 2012, with a logistic loss)."""

    kind = "nb-lr"
    binary_features = True

    def __init__(self, C: float = 1.0, ngram_range=(1, 2), alpha: float = 1.0,
                 analyzer: str = "word", token_pattern: str | None = TOKEN_PATTERN,
                 lowercase: bool = True, strip_accents: str | None = "unicode",
                 wordpiece_size: int = 16000):
        self._set_options(C=C, ngram_range=ngram_range, alpha=alpha, analyzer=analyzer,
                          token_pattern=token_pattern, lowercase=lowercase,
                          strip_accents=strip_accents, wordpiece_size=wordpiece_size)

    def _learn(self, counts: sparse.csr_matrix, labels: np.ndarray) -> None:
        self.ratio_ = nb_ratios(counts, labels, self.alpha)
        self.coef_, self.intercept_ = fit_logistic_regression(counts, labels, self.C,
                                                              feature_scale=self.ratio_)

    def _make_scorer(self, lookup: NgramLookup) -> LinearScorer:
        return LinearScorer(lookup, self.ratio_ * self.coef_, self.intercept_)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"ratio_": self.ratio_, "coef_": self.coef_, "intercept_": self.intercept_}


class TfidfLogisticRegression(_LinearClassifier):
    """Logistic regression on TF-IDF n-grams, as scikit-learn's TfidfVectorizer makes them:
    smooth idf = ln((1 + n) / (1 + df)) + 1, rows scaled to unit L2 norm."""

    kind = "tfidf-lr"

    def __init__(self, C: float = 10.0, ngram_range=(1, 2), min_df: int | float = 1,
                 sublinear_tf: bool = True, analyzer: str = "word",
                 token_pattern: str | None = TOKEN_PATTERN, lowercase: bool = True,
                 strip_accents: str | None = "unicode", wordpiece_size: int = 16000):
        if not isinstance(sublinear_tf, bool):
            raise ConfigError(f"sublinear_tf must be True or False, got {sublinear_tf!r}")
        check_min_df(min_df)
        self._set_options(C=C, ngram_range=ngram_range, min_df=min_df,
                          sublinear_tf=sublinear_tf, analyzer=analyzer,
                          token_pattern=token_pattern, lowercase=lowercase,
                          strip_accents=strip_accents, wordpiece_size=wordpiece_size)

    def _min_df(self) -> int | float:
        return self.min_df

    def _learn(self, counts: sparse.csr_matrix, labels: np.ndarray) -> None:
        documents = np.bincount(counts.indices, minlength=counts.shape[1])
        self.idf_ = np.log((1 + counts.shape[0]) / (1 + documents)) + 1
        features = tfidf(counts, self.idf_, self.sublinear_tf)
        self.coef_, self.intercept_ = fit_logistic_regression(features, labels, self.C)

    def _make_scorer(self, lookup: NgramLookup) -> LinearScorer:
        return LinearScorer(lookup, self.coef_, self.intercept_, self.idf_, self.sublinear_tf)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"idf_": self.idf_, "coef_": self.coef_, "intercept_": self.intercept_}


def nb_ratios(present: sparse.csr_matrix, labels: np.ndarray, alpha: float) -> np.ndarray:
    """NB log-count ratios [features, outputs] of binary features: the second class against
    the first for two classes, else each class against the others."""
    classes = np.unique(labels)
    per_class = np.vstack([np.asarray(present[labels == label].sum(axis=0)).ravel()
                           for label in classes])
    positive = per_class[1:] if len(classes) == 2 else per_class
    p, q = alpha + positive, alpha + per_class.sum(axis=0) - positive
    return np.log((p / p.sum(axis=1, keepdims=True)) / (q / q.sum(axis=1, keepdims=True))).T


def tfidf(counts: sparse.csr_matrix, idf: np.ndarray, sublinear_tf: bool) -> sparse.csr_matrix:
    """TfidfTransformer(norm="l2", smooth_idf=True) with this `idf`, on float counts."""
    features = counts.copy()
    if sublinear_tf:
        features.data = 1 + np.log(features.data)
    features.data *= idf[features.indices]
    norms = sparse_linalg.norm(features, axis=1)
    return sparse.diags(1 / np.where(norms > 0, norms, 1)) @ features


def _read_lines(path: Path) -> list[str]:
    return path.read_bytes().decode("utf-8").split("\n")[:-1]
