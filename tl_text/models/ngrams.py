"""scikit-learn's n-gram analyzers as TensorFlow ops, and an in-graph n-gram vocabulary.

    analyzer = Analyzer("word", (1, 2), strip_accents="unicode")
    analyzer.ngrams(texts)              # RaggedTensor [batch, (n-grams)]: sklearn's analyzer
    vocab = vocabulary(analyzer, train_texts, min_df=1)      # sorted, like CountVectorizer
    lookup = NgramLookup(analyzer, vocab)
    lookup(texts)                       # SparseTensor [batch, len(vocab)] of n-gram counts

`Analyzer` reproduces `CountVectorizer(...).build_analyzer()` for `analyzer="word"` with
`token_pattern` TOKEN_PATTERN or r"\\S+", and for `analyzer="char_wb"`; with or without
`lowercase`, `strip_accents` None or "unicode", any `ngram_range`. RE2, TensorFlow's regex
engine, has no Unicode `\\w` and no `\\b`, so the character classes are built from Python's
`unicodedata` (the tables scikit-learn's `re` uses) and TOKEN_PATTERN is matched without `\\b`:
its tokens are the maximal runs of word characters and apostrophes, less their leading and
trailing apostrophes, and every `!` and `?`.

`analyzer="wordpiece"` (no scikit-learn counterpart) makes word n-grams of the WordPiece
`pieces` of `tl_text.models.subword` (NFC, lowercase; unknown words are "[UNK]").

Differences remain for rare input only: `tf.strings.lower` ends a non-ASCII text at its first
NUL character (TOKEN_PATTERN analyzers first turn NULs, separators there, into spaces), and
for some 160 characters of Unicode 14 or later, TensorFlow's lowercasing and NFKD tables
disagree with Python 3.11's (Unicode 14.0).
"""

from __future__ import annotations

import functools
import sys
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
from scipy import sparse

from tl_text.errors import ConfigError
from tl_text.models.subword import MAX_WORD_CHARS, SUFFIX, UNK, normalize

TOKEN_PATTERN = r"(?u)\b\w[\w']*\b|[!?]"  # scikit-learn's syntax; matched without `\b` here
WHITESPACE_PATTERN = r"\S+"
ANALYZERS = ("word", "char_wb", "wordpiece")
BATCH_SIZE = 1024

_CHARACTERS = {
    "word": lambda c: c.isalnum() or c == "_",  # Python's `\w`
    "space": str.isspace,  # Python's `\s` and str.split()
    "other space": lambda c: c.isspace() and c != " ",
    "combining": lambda c: unicodedata.combining(c) != 0,  # what strip_accents_unicode drops
}


@functools.cache
def character_class(name: str) -> str:
    """The code points of Python's `name` characters (see _CHARACTERS) as an RE2 class body
    ("\\x{30}-\\x{39}..."), to put between brackets."""
    ranges: list[list[int]] = []
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF or not _CHARACTERS[name](chr(code)):
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(f"\\x{{{a:x}}}" + (f"-\\x{{{b:x}}}" if b > a else "") for a, b in ranges)


def word_tokens(texts: tf.Tensor) -> tf.RaggedTensor:
    """TOKEN_PATTERN's tokens, r"(?u)\\b\\w[\\w']*\\b|[!?]": [batch] -> [batch, (tokens)].

    Passes that match rarely (they are the fast ones): `!` and `?` get spaces around them, then
    every run of separators and apostrophes that holds a separator other than a space, or an
    apostrophe next to a space or at either end of the text, becomes a space; a split on
    spaces follows.
    """
    word = character_class("word")
    separator = f"[^{word}'!? ]"
    apostrophe_or_separator = f"[^{word}!?]"
    texts = tf.strings.regex_replace(tf.strings.regex_replace(texts, "!", " ! "), r"\?", " ? ")
    texts = tf.strings.regex_replace(
        texts, f"{apostrophe_or_separator}*(?:{separator}| '|' ){apostrophe_or_separator}*"
               f"|^'+|'+$", " ")
    return tf.strings.split(texts)


def whitespace_tokens(texts: tf.Tensor) -> tf.RaggedTensor:
    """r"\\S+" tokens, which are also str.split()'s: [batch] -> [batch, (tokens)]."""
    space, other_space = character_class("space"), character_class("other space")
    texts = tf.strings.regex_replace(texts, f"[{space}]*[{other_space}][{space}]*", " ")
    return tf.strings.split(texts)


TOKENIZERS = {TOKEN_PATTERN: word_tokens, WHITESPACE_PATTERN: whitespace_tokens}


def strip_accents(texts: tf.Tensor) -> tf.Tensor:
    """sklearn's strip_accents_unicode: NFKD, then drop the combining characters."""
    texts = tf_text.normalize_utf8(texts, "NFKD")
    return tf.strings.regex_replace(texts, f"[{character_class('combining')}]+", "")


@dataclass(frozen=True)
class Analyzer:
    """A CountVectorizer analyzer: raw strings -> n-grams (see the module docstring).

    `token_pattern` is only read by the word analyzer, as in scikit-learn.
    """

    analyzer: str = "word"
    ngram_range: tuple[int, int] = (1, 1)
    token_pattern: str | None = TOKEN_PATTERN
    lowercase: bool = True
    strip_accents: str | None = None
    pieces: tuple[str, ...] | None = None  # the WordPiece vocabulary of analyzer="wordpiece"

    def __post_init__(self):
        if self.analyzer not in ANALYZERS:
            raise ConfigError(f"analyzer must be one of {ANALYZERS}, got {self.analyzer!r}")
        object.__setattr__(self, "ngram_range", _ngram_range(self.ngram_range))
        if self.analyzer == "word" and self.token_pattern not in TOKENIZERS:
            raise ConfigError(f"token_pattern {self.token_pattern!r} has no in-graph version; "
                              f"use one of {list(TOKENIZERS)}")
        if self.strip_accents not in (None, "unicode"):
            raise ConfigError(f"strip_accents must be None or 'unicode', "
                              f"got {self.strip_accents!r}")
        if not isinstance(self.lowercase, bool):
            raise ConfigError(f"lowercase must be True or False, got {self.lowercase!r}")

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(range(self.ngram_range[0], self.ngram_range[1] + 1))

    def units(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """What n-grams are made of, [batch, (units)]: the tokens, or the characters of the
        space-padded words (a window across two words holds two spaces: never an n-gram)."""
        if self.analyzer == "word":
            return TOKENIZERS[self.token_pattern](self._preprocess(texts))
        if self.analyzer == "wordpiece":
            return _wordpiece_tokenizer(self.pieces).tokenize(normalize(texts))
        return self._padded_word_characters(texts).merge_dims(1, 2)

    def ngrams(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """The n-gram strings of each text, [batch, (n-grams)], as sklearn's analyzer makes
        them (in another order)."""
        if self.analyzer != "char_wb":
            return tf.strings.ngrams(self.units(texts), self.widths, separator=" ")
        characters = self._padded_word_characters(texts)
        return tf.strings.ngrams(characters, self.widths, separator="",
                                 preserve_short_sequences=True).merge_dims(1, 2)

    def split_last(self, ngram: str) -> tuple[str, str]:
        """(`ngram` less its last unit, "" for a unigram; its last unit)."""
        if self.analyzer != "char_wb":
            prefix, _, last = ngram.rpartition(" ")
            return prefix, last
        return ngram[:-1], ngram[-1]

    def _preprocess(self, texts: tf.Tensor) -> tf.Tensor:
        """Lowercase and strip accents; ASCII texts (most, in English) take a fast path."""
        if not (self.lowercase or self.strip_accents):
            return texts
        ascii = tf.cast(tf.strings.length(texts) == tf.strings.length(texts, "UTF8_CHAR"),
                        tf.int32)
        other, plain = tf.dynamic_partition(texts, ascii, 2)
        positions = tf.dynamic_partition(tf.range(tf.size(texts)), ascii, 2)
        plain = tf.strings.lower(plain) if self.lowercase else plain
        return tf.dynamic_stitch(positions, [self._preprocess_unicode(other), plain])

    def _preprocess_unicode(self, texts: tf.Tensor) -> tf.Tensor:
        if self.lowercase:
            if self.analyzer == "word" and self.token_pattern == TOKEN_PATTERN:
                texts = tf.strings.regex_replace(texts, r"\x00", " ")
            texts = tf.strings.lower(texts, encoding="utf-8")
        return strip_accents(texts) if self.strip_accents else texts

    def _padded_word_characters(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """[batch, (words), (characters)] of " " + word + " ", as sklearn's char_wb."""
        words = whitespace_tokens(self._preprocess(texts))
        padded = words.with_flat_values(tf.strings.join([" ", words.flat_values, " "]))
        return tf.strings.unicode_split(padded, "UTF-8")


@functools.lru_cache(maxsize=4)
def _wordpiece_tokenizer(pieces: tuple[str, ...] | None) -> tf_text.FastWordpieceTokenizer:
    """WordPiece pieces as strings ("[UNK]" for unknown words), like `PieceVectorizer`."""
    if not pieces:
        raise ConfigError("the wordpiece analyzer needs its vocabulary (pieces)")
    with tf.init_scope():  # eager, whichever graph asks first: every graph may capture it
        return tf_text.FastWordpieceTokenizer(
            vocab=list(pieces), suffix_indicator=SUFFIX, unknown_token=UNK,
            token_out_type=tf.string, max_bytes_per_word=4 * MAX_WORD_CHARS)


def document_frequencies(analyzer: Analyzer, texts: Sequence[str],
                         batch_size: int = BATCH_SIZE) -> dict[bytes, int]:
    """In how many of `texts` each n-gram (UTF-8) occurs; one batch in memory at a time."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def batch_frequencies(batch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        grams = analyzer.ngrams(batch)
        unique, index = tf.unique(grams.flat_values, out_idx=tf.int64)
        in_texts = tf.unique(tf.bitwise.left_shift(grams.value_rowids(), 32) + index).y
        return unique, tf.math.bincount(tf.cast(tf.bitwise.bitwise_and(in_texts, 2 ** 32 - 1),
                                                tf.int32), minlength=tf.size(unique))

    frequencies: dict[bytes, int] = defaultdict(int)
    for start in range(0, len(texts), batch_size):
        unique, counts = batch_frequencies(tf.constant(texts[start:start + batch_size]))
        for gram, count in zip(unique.numpy().tolist(), counts.numpy().tolist()):
            frequencies[gram] += count
    return frequencies


def vocabulary(analyzer: Analyzer, texts: Sequence[str], min_df: int | float = 1,
               batch_size: int = BATCH_SIZE) -> list[str]:
    """CountVectorizer's vocabulary in column order: the n-grams of `texts` in at least
    `min_df` of them (a float: that fraction), sorted."""
    check_min_df(min_df)
    least = min_df if isinstance(min_df, int) else min_df * len(texts)
    frequencies = document_frequencies(analyzer, texts, batch_size)
    kept = sorted(gram for gram, count in frequencies.items() if count >= least)
    if not kept:
        raise ConfigError(f"empty vocabulary: no n-gram occurs in {least} of the "
                          f"{len(texts)} training texts")
    return [gram.decode("utf-8") for gram in kept]


def check_min_df(min_df) -> None:
    """ConfigError unless `min_df` is a document count >= 1 or a fraction in [0, 1]."""
    if isinstance(min_df, bool) or not isinstance(min_df, (int, float)) or not (
            min_df >= 1 if isinstance(min_df, int) else 0 <= min_df <= 1):
        raise ConfigError(f"min_df must be an integer >= 1 or a fraction in [0, 1], "
                          f"got {min_df!r}")


class NgramLookup(tf.Module):
    """Raw strings [batch] -> SparseTensor [batch, len(vocabulary)] of n-gram counts (1 for
    present n-grams if `binary`); n-grams outside the vocabulary are dropped.

    No n-gram string is built: the vocabulary is a trie of its units. A string table maps a
    unit to its node, an int64 table maps (node, unit node) to the node one unit longer, and
    node j < len(vocabulary) is column j (the other nodes are prefixes outside the vocabulary).
    """

    def __init__(self, analyzer: Analyzer, vocabulary: Sequence[str], binary: bool = False):
        super().__init__(name="ngram_lookup")
        self.analyzer, self.size, self.binary = analyzer, len(vocabulary), binary
        units, edges, self.node_count = _trie(analyzer, vocabulary)
        self.unit_nodes = _table(tf.constant(list(units), tf.string), list(units.values()))
        parent, child, node = np.array(edges, np.int64).reshape(-1, 3).T
        self.edge_nodes = _table(tf.constant(parent * self.node_count + child), node)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, texts: tf.Tensor) -> tf.SparseTensor:
        rows, columns, counts = self.counts(texts)
        return tf.sparse.reorder(tf.SparseTensor(tf.stack([rows, columns], axis=1), counts,
                                                 [tf.size(texts, tf.int64), self.size]))

    def counts(self, texts: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(text index, column, count) int64 triples of the n-grams found, unordered."""
        nodes, rows = self._nodes(texts)
        keys = tf.where((nodes >= 0) & (nodes < self.size),
                        tf.bitwise.left_shift(rows, 32) + nodes, tf.constant(-1, tf.int64))
        if self.binary:
            keys = tf.unique(keys).y
            counts = tf.ones_like(keys)
        else:
            keys, _, counts = tf.unique_with_counts(keys, out_idx=tf.int64)
        found = keys >= 0
        keys, counts = keys[found], counts[found]
        return tf.bitwise.right_shift(keys, 32), tf.bitwise.bitwise_and(keys, 2 ** 32 - 1), counts

    def _nodes(self, texts: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The trie node (-1: none) of every n-gram window of the texts, and its text index."""
        units = self.analyzer.units(texts)
        rows = units.value_rowids()
        unit_nodes = self.unit_nodes.lookup(units.flat_values)
        found_nodes, found_rows, nodes = [unit_nodes], [rows], unit_nodes
        for shift in range(1, self.analyzer.ngram_range[1]):
            parent, child = nodes[:-1], unit_nodes[shift:]
            linked = (rows[shift:] == rows[:-shift]) & (parent >= 0) & (child >= 0)
            nodes = self.edge_nodes.lookup(
                tf.where(linked, parent * self.node_count + child, tf.constant(-1, tf.int64)))
            found_nodes.append(nodes)
            found_rows.append(rows[:-shift])
        return tf.concat(found_nodes, 0), tf.concat(found_rows, 0)


def count_matrix(lookup: NgramLookup, texts: Sequence[str],
                 batch_size: int = BATCH_SIZE) -> sparse.csr_matrix:
    """`lookup` over `texts`, in batches: float64 csr [len(texts), lookup.size]."""
    counts = tf.function(lookup.counts, input_signature=[tf.TensorSpec([None], tf.string)])
    rows, columns, values = [], [], []
    for start in range(0, len(texts), batch_size):
        found = counts(tf.constant(texts[start:start + batch_size], tf.string))
        rows.append(found[0].numpy() + start)
        columns.append(found[1].numpy())
        values.append(found[2].numpy())
    return sparse.csr_matrix(
        (np.concatenate(values).astype(np.float64), (np.concatenate(rows),
                                                     np.concatenate(columns))),
        shape=(len(texts), lookup.size))


def _ngram_range(ngram_range) -> tuple[int, int]:
    try:
        low, high = ngram_range
    except (TypeError, ValueError):
        low = high = None
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in (low, high)) or not (
            1 <= low <= high):
        raise ConfigError(f"ngram_range must be two integers 1 <= min_n <= max_n, "
                          f"got {ngram_range!r}")
    return low, high


def _trie(analyzer: Analyzer, vocabulary: Sequence[str]
          ) -> tuple[dict[str, int], list[tuple[int, int, int]], int]:
    """({unit: node}, [(parent node, unit node, node)], node count) of `vocabulary`'s n-grams;
    node j < len(vocabulary) is vocabulary[j], prefixes outside it get the nodes after."""
    nodes = {gram: column for column, gram in enumerate(vocabulary)}
    units: dict[str, int] = {}
    edges: list[tuple[int, int, int]] = []

    def link(gram: str, node: int) -> None:
        prefix, last = analyzer.split_last(gram)
        if prefix:
            edges.append((known(prefix), known(last), node))
        else:
            units[last] = node

    def known(gram: str) -> int:
        node = nodes.get(gram)
        if node is None:  # a prefix or unit outside the vocabulary
            node = nodes[gram] = len(nodes)
            link(gram, node)
        return node

    for column, gram in enumerate(vocabulary):
        link(gram, column)
    if len(nodes) >= 2 ** 31:
        raise ConfigError(f"{len(nodes):,} n-gram nodes are too many for int64 keys")
    return units, edges, len(nodes)


def _table(keys: tf.Tensor, values) -> tf.lookup.StaticHashTable:
    initializer = tf.lookup.KeyValueTensorInitializer(
        keys, tf.constant(np.asarray(values, np.int64).reshape(-1)))
    return tf.lookup.StaticHashTable(initializer, default_value=-1)
