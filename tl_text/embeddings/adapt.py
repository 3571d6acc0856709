"""Word vectors adapted to a domain: gensim word2vec, started from pretrained vectors and
trained further on unlabelled in-domain text.

    glove = load_vectors()                                   # GloVe 6B 50d
    adapted = adapt_vectors(glove, unlabelled_texts)         # any iterable of strings, read once
    save_word2vec(adapted, "adapted.vec")                    # CNNClassifier(vectors="adapted.vec")

The texts are split into words exactly as the CNN's vectoriser splits them (`cnn_words`, the
Python twin of `tl_text.models.text.standardize` and a whitespace split), so every adapted word
is a word the CNN looks up.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Iterable

import numpy as np

from tl_text.embeddings.vectors import WordVectors

log = logging.getLogger(__name__)

# TensorFlow's regex engine (RE2) and string ops are ASCII-minded: `\s` is [\t\n\f\r ], `\w`
# and `\b` are ASCII, tf.strings.lower lowercases A-Z only, tf.strings.split splits on
# [ \t\n\v\f\r]. The patterns below spell that out for Python's `re`.
_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_SPACE, _NOT_SPACE = r"[\t\n\f\r ]", r"[^\t\n\f\r ]"
_STANDARDIZE = [  # in the order of `standardize`
    (re.compile(rf"<br{_SPACE}*/?>", re.IGNORECASE | re.ASCII), " "),
    (re.compile(r'([.,!?;:()"])'), r" \1 "),
    (re.compile(rf"(^|{_SPACE})'({_NOT_SPACE})"), r"\1' \2"),
    (re.compile(rf"({_NOT_SPACE})'({_SPACE}|\Z)"), r"\1 '\2"),
    (re.compile(r"(\w)n't\b", re.ASCII), r"\1 n't"),
    (re.compile(r"(\w)'(s|re|ve|ll|m|d)\b", re.ASCII), r"\1 '\2"),
]
_SPLIT = re.compile(r"[ \t\n\v\f\r]+")


def cnn_words(text: str) -> list[str]:
    """The words the CNN makes of `text`: `standardize` ("Don't!" -> "do n't !"), then a
    split on whitespace."""
    text = text.translate(_LOWER)
    for pattern, replacement in _STANDARDIZE:
        text = pattern.sub(replacement, text)
    return [token for token in _SPLIT.split(text) if token]


def adapt_vectors(base: WordVectors, texts: Iterable[str], epochs: int = 5, window: int = 5,
                  min_count: int = 5, negative: int = 5, sample: float = 1e-4,
                  alpha: float = 0.025, min_alpha: float = 1e-4, workers: int = 1,
                  seed: int = 0) -> WordVectors:
    """`base` with the vectors of the words of `texts` trained further by skip-gram word2vec.

    Skip-gram rather than CBOW: it learns better vectors for rare words, and the rare
    in-domain words are what adaptation is for. Each word seen at least `min_count` times
    starts from its `base` vector (or that of its lowercase form, as in `build_matrix`), else
    from gensim's small random vector. `alpha` decays linearly to `min_alpha` over `epochs`
    passes; gensim's default rates keep GloVe's start (mean cosine 0.92 to it after 5 epochs
    on 10k IMDB reviews) and adapt more than lower rates do.

    The result holds `base`'s words in `base`'s order (trained vectors for the corpus words,
    the others untouched), then the new words, most frequent first. `texts` is read once,
    into a temporary file of words that gensim trains from. With `workers=1` the result
    depends on `seed` only: gensim 4 draws its random vectors from numpy generators seeded
    with it, never from Python's per-process string hash (its `hashfxn` goes unused).
    """
    from gensim.models import Word2Vec  # slow to import

    if epochs < 0 or min_count < 1:
        raise ValueError(f"need epochs >= 0 and min_count >= 1, not {epochs} and {min_count}")
    with tempfile.TemporaryDirectory(prefix="tl_text-adapt-") as folder:
        corpus = Path(folder) / "words.txt"
        counts, documents = _write_words(texts, corpus)
        total = sum(counts.values())
        frequent = sum(count >= min_count for count in counts.values())
        if not frequent:
            raise ValueError(f"no word occurs min_count={min_count} times in the "
                             f"{documents:,} texts ({total:,} words) to adapt vectors on")
        model = Word2Vec(vector_size=base.dim, window=window, min_count=min_count, sg=1,
                         negative=negative, sample=sample, alpha=alpha, min_alpha=min_alpha,
                         workers=workers, seed=seed, epochs=epochs)
        model.build_vocab_from_freq(counts, corpus_count=documents)
        started = _start_from(model.wv, base)
        log.info("adapting %s words (%s from the base vectors) on %s texts, %s words",
                 f"{len(model.wv):,}", f"{started:,}", f"{documents:,}", f"{total:,}")
        if epochs:
            model.train(corpus_file=str(corpus), total_words=total, epochs=epochs)
    return _merge(base, model.wv.index_to_key, model.wv.vectors)


def _write_words(texts: Iterable[str], path: Path) -> tuple[Counter, int]:
    """Write the words of each text as one line of `path`; (word counts, number of texts).

    gensim's reader splits lines on C whitespace, the same characters as `cnn_words`.
    """
    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of strings, not one string")
    counts, documents = Counter(), 0
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for text in texts:
            words = cnn_words(text)
            counts.update(words)
            documents += 1
            out.write(" ".join(words) + "\n")
    if not counts:
        raise ValueError(f"no words to adapt vectors on: {documents:,} texts, all empty")
    return counts, documents


def _start_from(keyed, base: WordVectors) -> int:
    """Set the vectors of gensim's words that `base` has to theirs; how many it had."""
    rows, sources = [], []
    for row, word in enumerate(keyed.index_to_key):
        source = base.index.get(word)
        if source is None:
            source = base.index.get(word.lower())
        if source is not None:
            rows.append(row)
            sources.append(source)
    keyed.vectors[rows] = base.vectors[sources]
    return len(rows)


def _merge(base: WordVectors, words: list[str], vectors: np.ndarray) -> WordVectors:
    """`base` with the rows of `words` replaced by `vectors`, the new words appended."""
    merged = np.array(base.vectors, copy=True)
    new_words, new_rows = [], []
    for row, word in enumerate(words):
        target = base.index.get(word)
        if target is None:
            new_words.append(word)
            new_rows.append(row)
        else:
            merged[target] = vectors[row]
    return WordVectors(base.words + new_words, np.concatenate([merged, vectors[new_rows]]))
