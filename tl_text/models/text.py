"""Text to token ids inside the graph: GloVe-style standardisation and `TextVectorization`.

Everything here is TensorFlow string ops, so the models take raw strings and keep doing so
when exported as SavedModels.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import tensorflow as tf
import tf_keras

PAD, UNK = "", "[UNK]"

_BREAK = r"(?i:<br\s*/?>)"
_PUNCTUATION = r'([.,!?;:()"])'


@tf_keras.utils.register_keras_serializable(package="tl_text", name="standardize")
def standardize(text: tf.Tensor) -> tf.Tensor:
    """Lowercase, `<br />` to space, punctuation `. , ! ? ; : ( ) "` as tokens of their own.

    Clitics are split the way GloVe 6B was tokenised ("don't" -> "do n't", "it's" -> "it 's"):
    GloVe has vectors for "n't", "'s", "'re", ... but none for "don't" or "it's".
    Quotes made of apostrophes ('word') are separated from the word.
    `tl_text.embeddings.cnn_words` is the Python twin (with the split); tests keep them equal.
    """
    text = tf.strings.lower(text)
    text = tf.strings.regex_replace(text, _BREAK, " ")
    text = tf.strings.regex_replace(text, _PUNCTUATION, r" \1 ")
    text = tf.strings.regex_replace(text, r"(^|\s)'(\S)", r"\1' \2")
    text = tf.strings.regex_replace(text, r"(\S)'(\s|$)", r"\1 '\2")
    text = tf.strings.regex_replace(text, r"(\w)n't\b", r"\1 n't")
    return tf.strings.regex_replace(text, r"(\w)'(s|re|ve|ll|m|d)\b", r"\1 '\2")


def split_sentences(documents: tf.Tensor, max_sentences: int) -> tf.RaggedTensor:
    """Documents [batch] -> sentences [batch, (at most max_sentences)], a RaggedTensor.

    A sentence ends at `.`, `!` or `?` followed by whitespace, at a line break or at `<br />`.
    """
    text = tf.strings.regex_replace(documents, _BREAK + r"|([.!?])\s+", "\\1\n")
    text = tf.strings.strip(tf.strings.regex_replace(text, r"\s*\n\s*", "\n"))
    return tf.strings.split(text, sep="\n")[:, :max_sentences]


@tf_keras.utils.register_keras_serializable(package="tl_text")
class Vectorizer(tf_keras.layers.TextVectorization):
    """`TextVectorization` whose config serialises a callable `standardize`.

    Plain tf_keras puts the bare function in the config, which `from_config` (and so
    `clone_model`) cannot read back.
    """

    def get_config(self):
        standardize_fn = tf_keras.saving.serialize_keras_object(self._standardize)
        return {**super().get_config(), "standardize": standardize_fn}


def vectorizer_from_vocabulary(vocabulary: Sequence[str], sequence_length: int = 400) -> Vectorizer:
    """A "vectorizer" layer with a known vocabulary (index 0 "", index 1 "[UNK]" included)."""
    vocabulary = list(vocabulary)
    if vocabulary[:2] != [PAD, UNK]:
        raise ValueError(f'vocabulary must start with "", "[UNK]"; got {vocabulary[:2]}')
    return Vectorizer(
        standardize=standardize, vocabulary=vocabulary[2:],
        output_sequence_length=sequence_length, name="vectorizer")


def make_vectorizer(texts: Iterable[str], max_tokens: int = 30000,
                    sequence_length: int = 400) -> Vectorizer:
    """Adapt a vocabulary of at most `max_tokens` (padding and [UNK] included) on `texts`.

    The layer is rebuilt from the adapted vocabulary so that its config carries it:
    `clone_model` and `from_config` then give back the same vectoriser.
    """
    adapted = tf_keras.layers.TextVectorization(max_tokens=max_tokens, standardize=standardize)
    adapted.adapt(tf.data.Dataset.from_tensor_slices(list(texts)).batch(1024))
    return vectorizer_from_vocabulary(vocabulary(adapted), sequence_length)


def vocabulary(vectorizer: tf_keras.layers.TextVectorization) -> list[str]:
    """The vectoriser's tokens by id: index 0 "" (padding), index 1 "[UNK]"."""
    return [str(token) for token in vectorizer.get_vocabulary()]
