"""CNN document classifiers that take raw strings and output class probabilities.

`kim_cnn`: Kim (2014), "Convolutional Neural Networks for Sentence Classification".
`denil_cnn`: Denil et al. (2014), "Modelling, Visualising and Summarising Documents with a
Single Convolutional Neural Network" (sentence level, then document level convolutions).

Both take the vectoriser whose vocabulary indexes the rows of `embedding_matrix`
(row 0 padding, row 1 "[UNK]"); the embedding layer is named "embedding".
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras
from tf_keras import layers

from tl_text.models.text import split_sentences, vectorizer_from_vocabulary, vocabulary


@tf_keras.utils.register_keras_serializable(package="tl_text")
class KMaxPooling(layers.Layer):
    """Keep the `k` largest values of every feature map, in their original order.

    Pools the steps axis, the one before the feature axis: [..., steps, features] ->
    [..., k, features]. Needs at least `k` steps.
    """

    def __init__(self, k: int, **kwargs):
        super().__init__(**kwargs)
        self.k = k

    def call(self, inputs):
        maps = tf.linalg.matrix_transpose(inputs)  # [..., features, steps]
        top = tf.math.top_k(maps, k=self.k, sorted=False).indices
        kept = tf.gather(maps, tf.sort(top), batch_dims=-1)
        return tf.linalg.matrix_transpose(kept)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)[:-2].concatenate([self.k, input_shape[-1]])

    def get_config(self):
        return {**super().get_config(), "k": self.k}


@tf_keras.utils.register_keras_serializable(package="tl_text")
class SentenceVectorizer(layers.Layer):
    """Documents [batch] -> token ids [batch, max_sentences, words_per_sentence].

    Sentences come from `split_sentences`; each is vectorised like `vectorizer_from_vocabulary`.
    """

    def __init__(self, vocabulary, max_sentences: int, words_per_sentence: int, **kwargs):
        super().__init__(**kwargs)
        self.max_sentences, self.words_per_sentence = max_sentences, words_per_sentence
        self.words = vectorizer_from_vocabulary(vocabulary, words_per_sentence)

    def call(self, documents):
        sentences = split_sentences(documents, self.max_sentences)
        ids = self.words(tf.reshape(sentences, [-1]))
        return tf.reshape(ids, [-1, self.max_sentences, self.words_per_sentence])

    def vocabulary_size(self) -> int:
        return self.words.vocabulary_size()

    def get_config(self):
        return {**super().get_config(), "vocabulary": vocabulary(self.words),
                "max_sentences": self.max_sentences,
                "words_per_sentence": self.words_per_sentence}


def _embedding(embedding_matrix, vocabulary_size: int, trainable: bool) -> layers.Embedding:
    """An "embedding" layer holding the matrix (as weights, so model configs stay small)."""
    matrix = np.asarray(embedding_matrix, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != vocabulary_size:
        raise ValueError(f"embedding matrix has shape {matrix.shape}, but the vocabulary "
                         f"has {vocabulary_size} tokens: one row per token is needed")
    embedding = layers.Embedding(*matrix.shape, trainable=trainable, name="embedding")
    embedding.build((None,))
    embedding.set_weights([matrix])
    return embedding


def kim_cnn(vectorizer, embedding_matrix, num_classes: int = 2,
            trainable_embeddings: bool = True, filter_sizes=(3, 4, 5), filters: int = 100,
            dropout: float = 0.5, name: str = "kim_cnn") -> tf_keras.Model:
    """Kim (2014): parallel convolutions of several widths, max over time, dropout, softmax."""
    texts = layers.Input(shape=(), dtype=tf.string, name="text")
    ids = vectorizer(texts)
    embedding = _embedding(embedding_matrix, vectorizer.vocabulary_size(), trainable_embeddings)
    x = embedding(ids)
    pooled = [layers.GlobalMaxPooling1D()(layers.Conv1D(filters, width, activation="relu")(x))
              for width in filter_sizes]
    x = layers.Concatenate()(pooled) if len(pooled) > 1 else pooled[0]
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return tf_keras.Model(texts, outputs, name=name)


def denil_cnn(vectorizer, embedding_matrix, num_classes: int = 2,
              trainable_embeddings: bool = True, max_sentences: int = 30,
              words_per_sentence: int = 50, sentence_filters: int = 100,
              sentence_width: int = 5, k_sentence: int = 2, document_filters: int = 100,
              document_width: int = 3, k_document: int = 2, activation: str = "tanh",
              dropout: float = 0.5, name: str = "denil_cnn") -> tf_keras.Model:
    """Denil et al. (2014): convolve words within sentences, then sentences within documents.

    `vectorizer` supplies only the vocabulary (any sequence length, e.g. the Kim CNN's);
    sentences are vectorised to `words_per_sentence` ids with that vocabulary. Each level is
    a "same" convolution, k-max pooling and `activation` (tanh as in the paper), so
    k_sentence <= words_per_sentence and k_document <= max_sentences. The defaults cover
    IMDB reviews (median 10 sentences of 19 words; 5% have more than 30 sentences).
    """
    texts = layers.Input(shape=(), dtype=tf.string, name="text")
    sentences = SentenceVectorizer(vocabulary(vectorizer), max_sentences, words_per_sentence,
                                   name="sentence_vectorizer")
    embedding = _embedding(embedding_matrix, sentences.vocabulary_size(), trainable_embeddings)
    x = embedding(sentences(texts))  # [batch, S, W, dim]
    x = layers.Conv2D(sentence_filters, (1, sentence_width), padding="same")(x)  # along words
    x = KMaxPooling(k_sentence)(x)  # [batch, S, k_sentence, filters]
    x = layers.Reshape((max_sentences, k_sentence * sentence_filters))(x)
    x = layers.Activation(activation, name="sentence_vectors")(x)
    x = layers.Conv1D(document_filters, document_width, padding="same")(x)
    x = KMaxPooling(k_document)(x)
    x = layers.Activation(activation)(layers.Flatten()(x))
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return tf_keras.Model(texts, outputs, name=name)


def embedding_weights(model: tf_keras.Model) -> np.ndarray:
    """The current [vocab_size, dim] matrix of the model's "embedding" layer."""
    return model.get_layer("embedding").get_weights()[0]
