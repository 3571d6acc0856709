"""In-graph n-gram analyzers, logistic regression and linear classifiers against scikit-learn.

Everything but the last test runs on texts written here (accents, apostrophes, `!?`, Korean,
odd whitespace) and on seeded random strings over an alphabet of the awkward cases.
"""

import functools
import random
import re
import sys
import unicodedata

import numpy as np
import pytest
import tensorflow as tf
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

from tl_text.classifiers.base import load_classifier
from tl_text.classifiers.linear import NBLogisticRegression, TfidfLogisticRegression
from tl_text.data.dataset import TextDataset
from tl_text.errors import ConfigError
from tl_text.export.savedmodel import load_exported
from tl_text.models import linear as sklearn_linear
from tl_text.models.ngrams import (TOKEN_PATTERN, Analyzer, NgramLookup, character_class,
                                   count_matrix, vocabulary)
from tl_text.training.logistic import fit_logistic_regression

GOOD = ["A wonderful film! Truly great, I loved it.", "Great acting; the café scene is superb!!",
        "Don't miss it: rock'n'roll at its 'best'.", "Brilliant, moving and naïve in a good way.",
        "I'd watch it again?! Yes!", "정말 최고의 영화! 강추합니다", "Superb cast.\tGreat score.",
        "The dogs' owner was GREAT and the plot wonderful.", "Résumé of a masterpiece ＡＢＣ",
        "Loved the ﬁnale; great great great", "what a film — moving, superb, 10/10",
        "ΟΔΟΣ was wonderful, İstanbul too", "e\u0301tonnant and brilliant", "재미있다 최고",
        "I loved it''", "Best. Film. Ever!"]
BAD = ["An awful film. Boring, terrible, I hated it.", "Terrible acting; the cafe scene is dull??",
       "Don't watch it: a 'waste' of time.", "Boring and dull in a bad way.",
       "Why did I watch it?? No!", "정말 최악의 영화 ㅠㅠ 재미없다", "Dull cast.\u00a0Awful score.",
       "The dogs' owner was AWFUL and the plot boring.", "Résumé of a disaster", "hated the ﬁnale",
       "what a waste — boring, dull, 1/10", "terrible\u3000terrible", "''awful''", "Worst ever?"]
MIXED = ["It was okay, fine I guess.", "An average film; decent, passable.", "Meh. Okay-ish.",
         "Neither good nor bad: fine.", "평범한 영화", "Decent enough?", "Passable, average, ok",
         "so-so film, fine acting"]
UNSEEN = ["", "zzz qqq", "great", "boring!!", "Un film étonnant, naïve!", "최고 최악", "'''",
          "GREAT great Great", "The café wasn't dull?"]
ALPHABET = [*"abcXYZ'''!?  .,-_09\t\n", "é", "É", "ñ", "ß", "İ", "ﬁ", "½", "\u0301", "\u0941",
            "영화", "는", "\u00a0", "\u2028", "\x1c", "Σ", "ΟΣ", "’", "\u3000"]
CONFIGS = {
    "word": dict(analyzer="word", ngram_range=(1, 2), token_pattern=TOKEN_PATTERN,
                 lowercase=True, strip_accents="unicode"),
    "word-cased": dict(analyzer="word", ngram_range=(1, 3), token_pattern=TOKEN_PATTERN,
                       lowercase=False, strip_accents=None),
    "word-2-3": dict(analyzer="word", ngram_range=(2, 3), token_pattern=TOKEN_PATTERN,
                     lowercase=True, strip_accents="unicode"),
    "whitespace": dict(analyzer="word", ngram_range=(1, 2), token_pattern=r"\S+",
                       lowercase=False, strip_accents=None),
    "char_wb": dict(analyzer="char_wb", ngram_range=(1, 4), token_pattern=None,
                    lowercase=True, strip_accents=None),
    "char_wb-accents": dict(analyzer="char_wb", ngram_range=(2, 5), token_pattern=None,
                            lowercase=True, strip_accents="unicode"),
    "char_wb-short-words": dict(analyzer="char_wb", ngram_range=(5, 6), token_pattern=None,
                                lowercase=False, strip_accents=None),
}


def fuzz(count: int = 400, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 30)))
            for _ in range(count)]


def dataset(groups: list[list[str]], names=("neg", "pos", "meh")) -> TextDataset:
    texts = [text for group in groups for text in group]
    labels = np.concatenate([np.full(len(group), label) for label, group in enumerate(groups)])
    return TextDataset("inline", [str(i) for i in range(len(texts))], texts, labels,
                       names[:len(groups)])


@pytest.fixture
def converged_sklearn(monkeypatch):
    """scikit-learn's LogisticRegression, as tl_text.models.linear uses it, solved to tol 1e-10
    (its default 1e-4 stops up to 1e-2 away from the optimum on these data)."""
    monkeypatch.setattr(sklearn_linear, "LogisticRegression",
                        functools.partial(LogisticRegression, tol=1e-10))


@pytest.fixture(scope="module")
def binary() -> TextDataset:
    return dataset([BAD, GOOD])


@pytest.fixture(scope="module")
def nb_lr(binary) -> NBLogisticRegression:
    return NBLogisticRegression().fit(binary)


def test_character_classes_are_pythons():
    codes = [c for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    characters = tf.constant([chr(c).encode() for c in codes])
    expected = {"word": lambda c: re.match(r"\w", c) is not None,
                "space": lambda c: re.match(r"\s", c) is not None,
                "combining": lambda c: unicodedata.combining(c) != 0}
    for name, test in expected.items():
        found = tf.strings.regex_full_match(characters, f"[{character_class(name)}]").numpy()
        assert found.tolist() == [test(chr(c)) for c in codes], name


@pytest.mark.parametrize("config", CONFIGS, ids=list(CONFIGS))
def test_analyzer_vocabulary_and_counts_match_count_vectorizer(config):
    texts = GOOD + BAD + MIXED + UNSEEN + fuzz()
    analyzer, reference = Analyzer(**CONFIGS[config]), CountVectorizer(**CONFIGS[config])
    expected = reference.build_analyzer()
    ngram_lists = analyzer.ngrams(tf.constant(texts)).to_list()
    for text, found in zip(texts, ngram_lists):
        assert sorted(gram.decode() for gram in found) == sorted(expected(text)), repr(text)
    counts = reference.fit_transform(texts)
    vocab = vocabulary(analyzer, texts, batch_size=64)
    assert vocab == reference.get_feature_names_out().tolist()
    found = count_matrix(NgramLookup(analyzer, vocab), texts, batch_size=64)
    assert (found != counts).nnz == 0


def test_token_pattern_treats_nul_as_a_separator():
    texts = ["a\x00B c", "é\x00Bé"]
    found = Analyzer(ngram_range=(1, 2), strip_accents="unicode").ngrams(tf.constant(texts))
    expected = CountVectorizer(ngram_range=(1, 2), token_pattern=TOKEN_PATTERN,
                               strip_accents="unicode").build_analyzer()
    assert [sorted(g.decode() for g in row) for row in found.to_list()] == [
        sorted(expected(text)) for text in texts]


def test_lookup_returns_sorted_sparse_counts_and_drops_unknown_ngrams():
    analyzer = Analyzer(ngram_range=(1, 2))
    lookup = NgramLookup(analyzer, ["a", "a b", "b", "c"])
    counts = lookup(tf.constant(["b a b z a b", "", "z"]))
    assert counts.dense_shape.numpy().tolist() == [3, 4]
    assert counts.indices.numpy().tolist() == [[0, 0], [0, 1], [0, 2]]
    assert counts.values.numpy().tolist() == [2, 2, 3]


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("dense", [False, True])
def test_fit_logistic_regression_finds_sklearns_optimum(classes, dense):
    rng = np.random.default_rng(classes)
    labels = rng.integers(0, classes, 120)
    features = rng.normal(size=(120, 25)) * (rng.random((120, 25)) < 0.3)
    features[np.arange(120), labels] += 1.0
    features = features if dense else sparse.csr_matrix(features)
    coef, intercept = fit_logistic_regression(features, labels, C=3.0)
    reference = LogisticRegression(C=3.0, tol=1e-12, max_iter=10_000).fit(features, labels)
    assert coef.shape == (25, 1 if classes == 2 else classes)
    np.testing.assert_allclose(coef.T, reference.coef_, atol=1e-5)
    np.testing.assert_allclose(intercept, reference.intercept_, atol=1e-5)


def test_fit_logistic_regression_scales_features_per_output():
    rng = np.random.default_rng(0)
    features = sparse.random(150, 40, density=0.2, format="csr", random_state=0)
    labels, scale = rng.integers(0, 2, 150), rng.normal(size=40)
    coef, intercept = fit_logistic_regression(features, labels, feature_scale=scale)
    reference = LogisticRegression(tol=1e-12, max_iter=10_000).fit(
        features @ sparse.diags(scale), labels)
    np.testing.assert_allclose(coef[:, 0], reference.coef_[0], atol=1e-5)
    with pytest.raises(ConfigError, match="feature_scale must have shape"):
        fit_logistic_regression(features, labels, feature_scale=scale[:3])
    with pytest.raises(ConfigError, match="at least two classes"):
        fit_logistic_regression(features, np.zeros(150))


def test_nb_lr_matches_the_sklearn_model(binary, nb_lr, converged_sklearn):
    reference = sklearn_linear.NBLogisticRegression().fit(binary.texts, binary.labels)
    assert nb_lr.vocabulary_ == reference.vectorizer_.get_feature_names_out().tolist()
    np.testing.assert_allclose(nb_lr.ratio_[:, 0], reference.ratio_, rtol=1e-12)
    texts = binary.texts + UNSEEN + fuzz(50)
    np.testing.assert_allclose(nb_lr.predict_proba(texts), reference.predict_proba(texts),
                               atol=1e-4)


@pytest.mark.parametrize("groups", [2, 3])
def test_tfidf_lr_matches_the_sklearn_pipeline(groups, converged_sklearn):
    train = dataset([BAD, GOOD, MIXED][:groups])
    classifier = TfidfLogisticRegression().fit(train)
    reference = sklearn_linear.tfidf_lr().fit(train.texts, train.labels)
    vectorizer = reference.steps[0][1]
    assert classifier.vocabulary_ == vectorizer.get_feature_names_out().tolist()
    np.testing.assert_allclose(classifier.idf_, vectorizer.idf_, rtol=1e-12)
    texts = train.texts + UNSEEN + fuzz(50)
    probabilities = classifier.predict_proba(texts)
    assert probabilities.shape == (len(texts), groups)
    np.testing.assert_allclose(probabilities, reference.predict_proba(texts), atol=1e-4)


@pytest.mark.parametrize("unit", ["char", "wordpiece"])
def test_nsmc_settings_match_sklearn(unit, converged_sklearn):
    """The options tl_text.experiments.nsmc gives the scikit-learn models."""
    settings = ({"analyzer": "char_wb", "ngram_range": (1, 4), "strip_accents": None}
                if unit == "char" else
                {"token_pattern": r"\S+", "lowercase": False, "strip_accents": None})
    train = dataset([BAD, GOOD])
    options = {**settings, **({"token_pattern": None} if unit == "char" else {})}
    options.pop("ngram_range", None)
    ngrams = settings.get("ngram_range", (1, 2))
    for ours, reference in [(NBLogisticRegression(**settings),
                             sklearn_linear.NBLogisticRegression(ngram_range=ngrams, **options)),
                            (TfidfLogisticRegression(**settings),
                             sklearn_linear.tfidf_lr(ngram_range=ngrams, **options))]:
        reference.fit(train.texts, train.labels)
        ours.fit(train)
        texts = train.texts + UNSEEN
        np.testing.assert_allclose(ours.predict_proba(texts), reference.predict_proba(texts),
                                   atol=1e-4)


def test_nb_lr_three_classes_is_a_softmax_over_one_vs_rest_ratios():
    train = dataset([BAD, GOOD, MIXED])
    classifier = NBLogisticRegression().fit(train)
    assert classifier.ratio_.shape == classifier.coef_.shape == (len(classifier.vocabulary_), 3)
    counts = CountVectorizer(ngram_range=(1, 2), binary=True, token_pattern=TOKEN_PATTERN,
                             strip_accents="unicode", vocabulary=classifier.vocabulary_)
    texts = train.texts + UNSEEN
    logits = counts.transform(texts) @ (classifier.ratio_ * classifier.coef_)
    expected = np.exp(logits + classifier.intercept_)
    expected /= expected.sum(axis=1, keepdims=True)
    probabilities = classifier.predict_proba(texts)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert (probabilities[:len(train)].argmax(axis=1) == train.labels).mean() > 0.9


@pytest.mark.parametrize("make", [NBLogisticRegression, TfidfLogisticRegression])
def test_save_load_and_export_give_the_same_probabilities(make, tmp_path):
    train = dataset([BAD, GOOD, MIXED])
    classifier = make(ngram_range=[1, 3]).fit(train)
    texts = UNSEEN + train.texts
    expected = classifier.predict_proba(texts)
    folder = classifier.save(tmp_path / "linear")
    loaded = load_classifier(folder)
    assert type(loaded) is make and loaded.get_config() == classifier.get_config()
    assert loaded.vocabulary_ == classifier.vocabulary_
    assert loaded.label_names_ == ("neg", "pos", "meh")
    np.testing.assert_array_equal(loaded.predict_proba(texts), expected)
    exported = load_exported(folder).predict_columns(texts, batch_size=4)
    np.testing.assert_allclose(exported["probabilities"], expected, atol=1e-5)
    assert exported["label"] == [("neg", "pos", "meh")[i] for i in expected.argmax(axis=1)]


def test_scorer_handles_any_batch_size(nb_lr):
    texts = (GOOD + BAD) * 20  # one batch, scored in parts; a single text leaves parts empty
    expected = np.concatenate([nb_lr.predict_proba([text]) for text in texts[:30]])
    np.testing.assert_allclose(nb_lr.predict_proba(texts, batch_size=1000)[:30], expected,
                               atol=1e-6)
    assert nb_lr.scorer()(tf.constant([], tf.string)).shape == (0, 2)


@pytest.mark.parametrize("options, message", [
    ({"analyzer": "char"}, "analyzer must be one of"),
    ({"token_pattern": r"\w+"}, "has no in-graph version"),
    ({"strip_accents": "ascii"}, "strip_accents must be None or 'unicode'"),
    ({"ngram_range": (2, 1)}, "ngram_range must be two integers"),
    ({"lowercase": "yes"}, "lowercase must be True or False"),
    ({"C": 0}, "C must be a positive number"),
    ({"alpha": -1.0}, "alpha must be a positive number"),
])
def test_bad_options_raise_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        NBLogisticRegression(**options)


def test_bad_tfidf_options_and_training_data_raise_config_errors(binary):
    with pytest.raises(ConfigError, match="sublinear_tf must be True or False"):
        TfidfLogisticRegression(sublinear_tf=1)
    with pytest.raises(ConfigError, match="min_df must be"):
        TfidfLogisticRegression(min_df=0)
    with pytest.raises(ConfigError, match="empty vocabulary"):
        TfidfLogisticRegression(min_df=1000).fit(binary)
    missing = TextDataset("two of three", ["a", "b"], ["good", "bad"], np.array([0, 1]),
                          ("neg", "pos", "meh"))
    with pytest.raises(ConfigError, match=r"no training documents of class\(es\) \['meh'\]"):
        NBLogisticRegression().fit(missing)


@pytest.mark.data
def test_imdb_vocabulary_and_accuracy_match_sklearn(imdb_small, converged_sklearn):
    train, test = imdb_small["train"], imdb_small["test"]
    classifier = NBLogisticRegression().fit(train)
    reference = sklearn_linear.NBLogisticRegression().fit(train.texts, train.labels)
    assert len(train) == 400
    assert classifier.vocabulary_ == reference.vectorizer_.get_feature_names_out().tolist()
    predicted = classifier.predict_proba(test.texts).argmax(axis=1)
    expected = reference.predict(test.texts)
    assert (predicted == test.labels).mean() == (expected == test.labels).mean()
