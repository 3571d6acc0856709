"""Subword and character tokens, for languages whose whitespace words are poor units (Korean).

`train_wordpiece` learns a WordPiece vocabulary with `tokenizers` (saved as its JSON file, the
`tokenizer.json` that `transformers` also reads). `PieceVectorizer` turns raw strings into
token ids inside the graph (tensorflow-text's FastWordpieceTokenizer, or one id per
character), so a CNN built on it (`kim_cnn(PieceVectorizer(...), matrix)`) takes raw strings
and exports as a SavedModel like the English ones. `pieces` gives the same tokens as strings
for bag-of-n-gram models.

Both units see the same normalised text: NFC, lowercased, whitespace runs as one space. (Not
NFKC: it turns the compatibility jamo of ㅋㅋ or ㅠㅠ into conjoining ones, which tokenizers
without NFKC, such as BERT's, never produce.)
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
import tf_keras
from tf_keras import layers

from tl_text.atomic import atomic_write
from tl_text.errors import DataError

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD, UNK = SPECIAL_TOKENS[:2]
UNITS = ("wordpiece", "char")
SUFFIX = "##"
MAX_WORD_CHARS = 100  # longer words become "[UNK]" (tensorflow-text counts bytes: 4 per char)


def normalize(texts: tf.Tensor) -> tf.Tensor:
    """NFC, Unicode lowercase, whitespace runs to one space, stripped (TF string ops)."""
    texts = tf.strings.lower(tf_text.normalize_utf8(texts, "NFC"), encoding="utf-8")
    return tf.strings.strip(tf.strings.regex_replace(texts, r"\s+", " "))


def train_wordpiece(texts: Iterable[str], vocab_size: int = 16000, min_frequency: int = 2):
    """A `tokenizers.Tokenizer` (WordPiece, BERT pre-tokenisation) trained on `texts`.

    Its ids start with SPECIAL_TOKENS ("[PAD]" 0, "[UNK]" 1), so it can serve a BERT-style
    vocabulary as well as `PieceVectorizer`. `vocab_size` is a target: every character seen
    (and its "##" form) is kept, so a small vocabulary over many Hangul syllables ends larger.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token=UNK, continuing_subword_prefix=SUFFIX,
                                           max_input_chars_per_word=MAX_WORD_CHARS))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                        special_tokens=list(SPECIAL_TOKENS),
                                        continuing_subword_prefix=SUFFIX)
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def save_tokenizer(tokenizer, path: str | Path) -> Path:
    """Write the tokenizer's JSON atomically."""
    return atomic_write(path, tokenizer.to_str().encode("utf-8"))


def wordpiece_vocabulary(tokenizer_or_path) -> list[str]:
    """Tokens by id from a `tokenizers.Tokenizer` or its saved JSON file."""
    from tokenizers import Tokenizer

    tokenizer = tokenizer_or_path
    if isinstance(tokenizer_or_path, (str, Path)):
        try:
            tokenizer = Tokenizer.from_file(str(tokenizer_or_path))
        except Exception as err:  # tokenizers raises a bare Exception for bad files
            raise DataError(tokenizer_or_path, f"not a tokenizers JSON file ({err})") from err
    by_id = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    vocabulary = [token for token, _ in by_id]
    if vocabulary[:2] != [PAD, UNK]:
        raise DataError(tokenizer_or_path if isinstance(tokenizer_or_path, (str, Path))
                        else "tokenizer", f'ids 0 and 1 must be "{PAD}", "{UNK}"; '
                                          f"got {vocabulary[:2]}")
    return vocabulary


def char_vocabulary(texts: Iterable[str], max_size: int = 4000, min_count: int = 2) -> list[str]:
    """"[PAD]", "[UNK]", then the characters of `texts` (normalised) by frequency."""
    counts = Counter()
    for text in texts:
        counts.update(" ".join(unicodedata.normalize("NFC", text).lower().split()))
    kept = sorted((c for c, n in counts.items() if n >= min_count), key=lambda c: (-counts[c], c))
    return [PAD, UNK, *kept[:max_size - 2]]


@tf_keras.utils.register_keras_serializable(package="tl_text")
class PieceVectorizer(layers.Layer):
    """Raw strings [batch] -> token ids [batch, sequence_length], padded with 0 ("[PAD]").

    `unit` "wordpiece": FastWordpieceTokenizer over `vocabulary` (punctuation and
    whitespace split first, as BERT does); "char": one id per character, a space included.
    Unknown pieces map to 1 ("[UNK]"). Stands in for the English vectoriser in `kim_cnn`.
    """

    def __init__(self, vocabulary: Sequence[str], unit: str = "wordpiece",
                 sequence_length: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary, self.unit, self.sequence_length = list(vocabulary), unit, sequence_length
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {UNITS}, not {unit!r}")
        if self.vocabulary[:2] != [PAD, UNK]:
            raise ValueError(f'vocabulary must start with "{PAD}", "{UNK}"; '
                             f"got {self.vocabulary[:2]}")
        if unit == "wordpiece":
            self._tokenizer = tf_text.FastWordpieceTokenizer(
                vocab=self.vocabulary, suffix_indicator=SUFFIX, unknown_token=UNK,
                max_bytes_per_word=4 * MAX_WORD_CHARS, token_out_type=tf.int64)
        else:
            self._table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
                tf.constant(self.vocabulary), tf.range(len(self.vocabulary), dtype=tf.int64)),
                default_value=1)

    def token_ids(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """Every token id of every text, untruncated: ragged [batch, None]."""
        texts = normalize(texts)
        if self.unit == "wordpiece":
            return self._tokenizer.tokenize(texts)
        return tf.ragged.map_flat_values(self._table.lookup,
                                         tf.strings.unicode_split(texts, "UTF-8"))

    def call(self, texts):
        ids = self.token_ids(tf.reshape(texts, [-1]))
        return ids.to_tensor(default_value=0, shape=[None, self.sequence_length])

    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    def pieces(self, texts: Sequence[str], batch_size: int = 8192) -> list[list[str]]:
        """The tokens of each text as strings (untruncated), for bag-of-n-gram models."""
        tokens = np.array(self.vocabulary, dtype=object)
        out = []
        for start in range(0, len(texts), batch_size):
            ids = self.token_ids(tf.constant(list(texts[start:start + batch_size])))
            flat = tokens[ids.flat_values.numpy()]
            bounds = np.cumsum(np.concatenate([[0], ids.row_lengths().numpy()]))
            out.extend(flat[a:b].tolist() for a, b in zip(bounds[:-1], bounds[1:]))
        return out

    def get_config(self):
        return {**super().get_config(), "vocabulary": self.vocabulary, "unit": self.unit,
                "sequence_length": self.sequence_length}


def make_piece_vectorizer(texts: Sequence[str], unit: str = "wordpiece",
                          vocab_size: int = 16000, sequence_length: int = 64):
    """(PieceVectorizer, trained `tokenizers.Tokenizer` or None) for `unit`, learnt on `texts`."""
    if unit == "wordpiece":
        tokenizer = train_wordpiece(texts, vocab_size)
        return PieceVectorizer(wordpiece_vocabulary(tokenizer), unit, sequence_length), tokenizer
    return PieceVectorizer(char_vocabulary(texts, vocab_size), unit, sequence_length), None
