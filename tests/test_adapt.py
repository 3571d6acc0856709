"""Tests for tl_text.embeddings.adapt: the CNN's words in Python, word2vec adaptation."""

import os
import subprocess
import sys

import numpy as np
import pytest

from tl_text.embeddings import WordVectors, adapt_vectors, cnn_words, load_vectors, save_word2vec

FRAGMENTS = ["a", "B", "x", "n", "t", "s", "d", "_", "7", "É", "é", "ß", "İ", " ", "  ", "\t",
             "\n", "\v", "\f", "\r", "\xa0", "\x85", "\x1c", "\u2003", "'", "'", ".", ",", "!",
             "?", ";", ":", "(", ")", '"', "<", ">", "/", "-", "<br />", "<BR/>", "<bR\n>",
             "<br\v/>", "n't", "N'T", "'s", "'re", "'VE", "'ll", "'m", "'d", "don't", "'tis"]


def in_graph_tokens(texts):
    """What the CNN's vectoriser splits `texts` into: `standardize`, then its whitespace split."""
    import tensorflow as tf

    from tl_text.models import standardize

    tokens = tf.strings.split(standardize(tf.constant(texts))).to_list()
    return [[token.decode("utf-8") for token in row] for row in tokens]


def test_word_tokens_examples():
    assert cnn_words("I don't like it's ending.<br />'Great' (NOT)!") == [
        "i", "do", "n't", "like", "it", "'s", "ending", ".", "'", "great", "'", "(", "not",
        ")", "!"]
    assert cnn_words("ÉCOLE\xa0x\vy") == ["École\xa0x", "y"]  # TF lowercases ASCII only


def test_word_tokens_equal_the_in_graph_tokens_on_odd_text():
    rng = np.random.default_rng(0)
    texts = ["".join(rng.choice(FRAGMENTS, size=rng.integers(0, 30))) for _ in range(2000)]
    assert [cnn_words(text) for text in texts] == in_graph_tokens(texts)


WIDER = FRAGMENTS + [
    "''", "'''", "`", "\u2019", "\u2018", "'t", "n'", "'n't", "don't'ven't", "it's's",
    "n'tn't", "'s'", "can't've", "y'all", "rock'n'roll", "'S", "'Re", "'LL", "'D", "-", "--",
    "...", "&", "&amp;", "#", "*", "[", "]", "{", "}", "=", "%", "$", "@", "<br>", "<br/>",
    "<BR />", "<br\t/>", "<br  />", "<br", "<b>", "br>", "/>", "<br /><br />", "0", "42",
    "3.14", "e.g.", "U.S.", "A", "Z", "abc", "DEF", "q_x", "\u00e9t\u00e9", "\u00c9T\u00c9",
    "\u0130stanbul", "\u00dfe", "\u65e5\u672c", "\u0645\u0631\u062d\u0628\u0627", "\U0001f600",
    "\u0301", "e\u0301", "\u200b", "\u2028", "\u3000", "\ufeff", "\x00", "\x7f", "\x1f", "   ",
    "\r\n"]


def test_word_tokens_equal_the_in_graph_tokens_on_a_wide_fuzz():
    """20,000 random mixes of apostrophes, clitics, punctuation, HTML breaks, digits, unicode
    and every kind of whitespace: the Python twin splits them as the graph does."""
    rng = np.random.default_rng(3)
    texts = ["".join(rng.choice(WIDER, size=rng.integers(0, 60))) for _ in range(20_000)]
    for start in range(0, len(texts), 5000):
        chunk = texts[start:start + 5000]
        assert [cnn_words(text) for text in chunk] == in_graph_tokens(chunk)


def test_word_tokens_equal_the_vectorizer_on_imdb_reviews(imdb_small):
    from tl_text.models import make_vectorizer, vocabulary

    texts = imdb_small["train"].texts[:300]
    words = [cnn_words(text) for text in texts]
    assert words == in_graph_tokens(texts)
    layer_words = vocabulary(make_vectorizer(texts, max_tokens=1_000_000))
    assert set(layer_words[2:]) == {word for row in words for word in row}


# --- adapt_vectors on a tiny corpus -------------------------------------------------------

DIM = 8
BASE_WORDS = ["the", "movie", "was", "great", "awful", "boring", "plot", "ocean", "éclair"]
NEW_WORDS = ["zorblax", "quux"]
TINY = {"epochs": 3, "min_count": 2, "sample": 0}  # every corpus word is frequent: no sampling


@pytest.fixture(scope="module")
def base():
    rng = np.random.default_rng(1)
    return WordVectors(BASE_WORDS, rng.normal(0, 1.5, size=(len(BASE_WORDS), DIM)))


@pytest.fixture(scope="module")
def corpus():
    """200 short reviews in the words of BASE_WORDS (not "ocean" or "éclair"), "zorblax",
    "quux" and "Éclair" (TF lowercases ASCII only, so its word is "Éclair")."""
    rng = np.random.default_rng(2)
    subjects = ["the movie", "the PLOT", "zorblax", "quux", "Éclair"]
    verdicts = ["great", "awful", "boring"]
    return [f"{rng.choice(subjects)} was {rng.choice(verdicts)}. "
            f"{rng.choice(subjects)} was {rng.choice(verdicts)}!" for _ in range(200)]


@pytest.fixture(scope="module")
def adapted(base, corpus):
    return adapt_vectors(base, corpus, **TINY)


def test_adapt_keeps_base_words_and_adds_new_ones(base, adapted):
    assert adapted.words[:len(base)] == BASE_WORDS
    assert sorted(adapted.words[len(base):]) == sorted(NEW_WORDS + ["Éclair", ".", "!"])
    assert np.isfinite(adapted.vectors).all()
    for word in ["ocean", "éclair"]:  # not words of the corpus: untouched
        np.testing.assert_array_equal(adapted[word], base[word])
    for word in ["the", "movie", "great", "plot"]:
        assert not np.array_equal(adapted[word], base[word]), word


def test_adapt_starts_from_base_vectors(base, corpus):
    start = adapt_vectors(base, corpus, **{**TINY, "epochs": 0})
    np.testing.assert_array_equal(start.vectors[:len(base)], base.vectors)
    np.testing.assert_array_equal(start["Éclair"], base["éclair"])  # as build_matrix finds it
    for word in NEW_WORDS:  # gensim's random start: small
        assert 0 < np.linalg.norm(start[word]) < 1


def test_adapt_is_deterministic_for_a_seed(base, corpus, adapted):
    again = adapt_vectors(base, corpus, **TINY)
    assert again.words == adapted.words
    np.testing.assert_array_equal(again.vectors, adapted.vectors)
    other = adapt_vectors(base, corpus, **TINY, seed=1)
    assert not np.array_equal(other.vectors, adapted.vectors)


def test_adapt_does_not_depend_on_the_hash_seed(base, corpus, adapted, tmp_path):
    """Python's str hash changes per process; gensim must not use it."""
    np.save(tmp_path / "base.npy", base.vectors)
    (tmp_path / "corpus.txt").write_text("\n".join(corpus), encoding="utf-8")
    script = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from tl_text.embeddings import WordVectors, adapt_vectors, save_word2vec\n"
        "folder = Path(sys.argv[1])\n"
        f"base = WordVectors({BASE_WORDS!r}, np.load(folder / 'base.npy'))\n"
        "texts = (folder / 'corpus.txt').read_text(encoding='utf-8').split('\\n')\n"
        f"save_word2vec(adapt_vectors(base, texts, **{TINY!r}), folder / 'out.vec')\n")
    hash_seed = "1" if os.environ.get("PYTHONHASHSEED") != "1" else "2"
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True,
                   env={**os.environ, "PYTHONHASHSEED": hash_seed})
    other = load_vectors(tmp_path / "out.vec")
    assert other.words == adapted.words
    np.testing.assert_array_equal(other.vectors, adapted.vectors)


def test_adapted_vectors_round_trip_in_word2vec_format(adapted, tmp_path):
    loaded = load_vectors(save_word2vec(adapted, tmp_path / "adapted.vec"))
    assert loaded.words == adapted.words
    np.testing.assert_array_equal(loaded.vectors, adapted.vectors)


def test_adapt_reads_a_generator_once(base, corpus, adapted):
    again = adapt_vectors(base, (text for text in corpus), **TINY)
    np.testing.assert_array_equal(again.vectors, adapted.vectors)


@pytest.mark.parametrize("texts, message", [
    ([], "no words to adapt vectors on: 0 texts"),
    (["", " <br /> \n"], "no words to adapt vectors on: 2 texts"),
    (["a rare word"], "no word occurs min_count=5 times in the 1 texts"),
])
def test_adapt_refuses_a_corpus_without_words(base, texts, message):
    with pytest.raises(ValueError, match=message):
        adapt_vectors(base, texts)


def test_adapt_refuses_bad_arguments(base):
    with pytest.raises(TypeError, match="not one string"):
        adapt_vectors(base, "the movie was great")
    with pytest.raises(ValueError, match="min_count >= 1"):
        adapt_vectors(base, ["the movie"], min_count=0)


# --- on real reviews, from GloVe ----------------------------------------------------------

def test_adapt_glove_on_imdb_reviews(imdb_small):
    glove = load_vectors()
    texts = imdb_small["train"].texts[:300]
    adapted = adapt_vectors(glove, texts, epochs=1)
    assert adapted.words[:len(glove)] == glove.words
    counts = {}
    for text in texts:
        for word in cnn_words(text):
            counts[word] = counts.get(word, 0) + 1
    trained = [word for word, count in counts.items() if count >= 5 and word in glove]
    untouched = [word for word in ["ocean", "tuesday", "algebra"] if word not in counts]
    new = [word for word, count in counts.items() if count >= 5 and word not in glove]
    assert len(trained) > 1000 and untouched and new
    assert sorted(adapted.words[len(glove):]) == sorted(new)
    rows = [glove.index[word] for word in trained]
    moved = ~np.all(adapted.vectors[rows] == glove.vectors[rows], axis=1)
    assert moved.mean() > 0.99
    cosine = np.sum(adapted.vectors[rows] * glove.vectors[rows], axis=1) / (
        np.linalg.norm(adapted.vectors[rows], axis=1) * np.linalg.norm(glove.vectors[rows], axis=1))
    assert cosine.mean() > 0.9  # adapted, not replaced
    for word in untouched:
        np.testing.assert_array_equal(adapted[word], glove[word])


def test_sources_adapt_glove_once_for_the_source_cnn_and_gensim_emb(data_dir, tmp_path):
    from tl_text.classifiers.arms import ArmOptions, Sources, needs_unlabelled

    options = ArmOptions(vectors="adapted", source="amazon-classic", source_fraction=0.03,
                         data_dir=str(data_dir), embeddings_dir=str(tmp_path))
    assert needs_unlabelled(["nb-lr"], options) and needs_unlabelled(
        ["gensim-emb"], ArmOptions()) and not needs_unlabelled(["nb-lr"], ArmOptions())
    logged = []
    sources = Sources(options, log=logged.append, unlabelled=["a gripping , moving film ."] * 5)
    path = sources.vectors()
    assert path == sources.adapted_vectors() and path.startswith(str(tmp_path / "adapted-"))
    # 429 source reviews (3 % of amazon-classic) and the 5 unlabelled texts
    assert sum("adapting glove-6b-50d with word2vec on 434 texts" in m for m in logged) == 1
    adapted = load_vectors(path)
    assert "gripping" in adapted and len(adapted) >= 400_000  # GloVe's words kept
    assert Sources(options, log=logged.append,  # a new run finds the cached vectors
                   unlabelled=["a gripping , moving film ."] * 5).vectors() == path
    assert sum("adapting" in m for m in logged) == 1
