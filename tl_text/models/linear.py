"""The scikit-learn reference for the linear classifiers: TF-IDF + logistic regression and
NB-weighted logistic regression. The toolkit trains and exports the TensorFlow versions in
`tl_text.classifiers.linear`; tests and benchmarks compare them with these.

Wang & Manning (2012) NBSVM idea with a logistic loss: binary n-gram features scaled by the
naive-Bayes log-count ratio r = log((p / |p|_1) / (q / |q|_1)) before a linear classifier.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from tl_text.models.ngrams import TOKEN_PATTERN

ANALYZER = {"analyzer": "word", "token_pattern": TOKEN_PATTERN, "lowercase": True,
            "strip_accents": "unicode"}


def tfidf_lr(C: float = 10.0, ngram_range=(1, 2), min_df: int = 1, **analyzer_options):
    """sklearn pipeline: raw strings -> sublinear TF-IDF uni+bigrams -> logistic regression.

    `analyzer_options` (analyzer, token_pattern, lowercase, strip_accents) override the
    defaults of `ANALYZER`."""
    return make_pipeline(
        TfidfVectorizer(ngram_range=ngram_range, min_df=min_df, sublinear_tf=True,
                        **{**ANALYZER, **analyzer_options}),
        LogisticRegression(C=C, max_iter=2000))


class NBLogisticRegression:
    """Binary NB-weighted logistic regression with fit/predict/predict_proba on raw strings."""

    def __init__(self, C: float = 1.0, ngram_range=(1, 2), alpha: float = 1.0,
                 **analyzer_options):
        self.C, self.ngram_range, self.alpha = C, ngram_range, alpha
        self.analyzer_options = {**ANALYZER, **analyzer_options}

    def fit(self, texts, labels):
        labels = np.asarray(labels)
        self.vectorizer_ = CountVectorizer(ngram_range=self.ngram_range, binary=True,
                                           **self.analyzer_options)
        features = self.vectorizer_.fit_transform(texts)
        p = self.alpha + features[labels == 1].sum(axis=0)
        q = self.alpha + features[labels == 0].sum(axis=0)
        self.ratio_ = np.asarray(np.log((p / p.sum()) / (q / q.sum()))).ravel()
        self.classifier_ = LogisticRegression(C=self.C, max_iter=2000)
        self.classifier_.fit(self._scale(features), labels)
        return self

    def predict_proba(self, texts) -> np.ndarray:
        return self.classifier_.predict_proba(self._scale(self.vectorizer_.transform(texts)))

    def predict(self, texts) -> np.ndarray:
        return self.predict_proba(texts).argmax(axis=1)

    def _scale(self, features):
        return features @ sparse.diags(self.ratio_)
