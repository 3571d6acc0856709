"""CNN document classifiers that take raw strings and output class probabilities.

`kim_cnn`: Kim (2014), "Convolutional Neural Networks for Sentence Classification".
`denil_cnn`: Denil et al. (2014), "Modelling, Visualising and Summarising Documents with a
Single Convolutional Neural Network" (sentence level, then document level convolutions).

Both take the vectoriser whose vocabulary indexes the rows of `embedding_matrix`
(row 0 padding, row 1 "[UNK]"); the embedding layer is named "embedding".

Padding costs no convolution and changes nothing: the rows of token ids (documents for Kim,
sentences for Denil) are packed back to back into one sequence, `gap` zero vectors apart,
before the word convolution, and each row's outputs are pooled on their own. A review is
≈ 230 tokens, so this skips 43 % of Kim's 400 positions and 84 % of Denil's 30 × 50 grid,
and a document's probabilities do not depend on the batch it is in. In bfloat16, where the
segment max costs more than the skipped positions save, Kim's CNN convolves the padded rows
instead and masks with penalty channels (`kim_cnn`'s "padded" formulation: same weights,
same outputs), each batch padded only to its longest review (`TrimPadding`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras
from tf_keras import layers

from tl_text.models.text import split_sentences, vectorizer_from_vocabulary, vocabulary

PADDINGS = ("valid", "same")
FORMULATIONS = ("packed", "padded")
_PENALTY = -1e30  # a window score no convolution reaches; bfloat16 holds it
_POOL = 16  # first-stage window of the max over a length known only at run time
VERSION = 3  # bumped whenever the CNNs change, so that cached source models are retrained


def _packed_layout(ids: tf.Tensor, gap: int, min_length: int) -> tuple[tf.Tensor, tf.Tensor]:
    """(token count, first packed position) of every row of `ids` [..., T], rows flattened.

    Token ids are left-aligned, 0 is padding. Rows shorter than `min_length` are given
    pad tokens up to it; rows still empty take no room in the packed sequence.
    """
    lengths = tf.math.count_nonzero(tf.reshape(ids, [-1, tf.shape(ids)[-1]]), axis=1,
                                    dtype=tf.int32)
    lengths = tf.maximum(lengths, min_length)
    spans = tf.where(lengths > 0, lengths + gap, 0)
    return lengths, gap + tf.cumsum(spans, exclusive=True)


@tf_keras.utils.register_keras_serializable(package="tl_text")
class PackRows(layers.Layer):
    """Token ids [..., T] -> frames [n, frame_length + 2 * gap] of one packed sequence.

    The sequence is `gap` zeros, then every row's tokens, each row followed by `gap` zeros;
    with gap >= width - 1 ("valid") or width // 2 ("same"), no convolution window mixes two
    rows. It is cut into frames that overlap by 2 * gap, so that a "valid" convolution of
    the frames (a batch the convolution kernels run in parallel) gives the convolution of
    the whole sequence: its first `frame_length` outputs per frame, frames one after another.
    """

    def __init__(self, gap: int, min_length: int = 0, frame_length: int = 512, **kwargs):
        super().__init__(**kwargs)
        self.gap, self.min_length, self.frame_length = gap, min_length, frame_length

    def call(self, ids):
        rows = tf.reshape(ids, [-1, tf.shape(ids)[-1]])
        lengths, starts = _packed_layout(ids, self.gap, self.min_length)
        tokens = tf.where(rows != 0)  # [n, (row, column)], row by row
        at = tf.gather(starts, tokens[:, 0]) + tf.cast(tokens[:, 1], tf.int32)
        size = self.gap + tf.reduce_sum(tf.where(lengths > 0, lengths + self.gap, 0))
        frames = -(-size // self.frame_length)
        packed = tf.scatter_nd(at[:, tf.newaxis], tf.gather_nd(rows, tokens),
                               [frames * self.frame_length + 2 * self.gap])
        return tf.signal.frame(packed, self.frame_length + 2 * self.gap, self.frame_length)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([None, self.frame_length + 2 * self.gap])

    def get_config(self):
        return {**super().get_config(), "gap": self.gap, "min_length": self.min_length,
                "frame_length": self.frame_length}


@tf_keras.utils.register_keras_serializable(package="tl_text")
class Conv1DAsConv2D(layers.Conv1D):
    """`Conv1D` (same weights, same config) computed as a conv2d over an expanded axis, with the
    bias and activation applied before the squeeze, so that grappler fuses conv + bias + ReLU
    into one oneDNN primitive (Conv1D's squeeze between them prevents it)."""

    def call(self, inputs):
        outputs = tf.nn.conv2d(inputs[:, tf.newaxis], self.kernel[tf.newaxis], strides=1,
                               padding=self.padding.upper())
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs[:, 0]


@tf_keras.utils.register_keras_serializable(package="tl_text")
class WindowPenalties(layers.Layer):
    """[vectors [batch, T, dim], ids [batch, T]] -> [batch, T, dim + len(widths)]: the vectors,
    those of id 0 (padding) zeroed, then one channel per window width, -1e30 on the padding
    positions at or after that width (0 elsewhere).

    A "valid" convolution of width `w` whose kernel weighs its own channel by 1 at every tap
    (`MaxOverTimeConv`) gets -1e30 in every window that reaches past a row's tokens,
    except the first window of a row shorter than `w` (padded with zero vectors, as Kim's
    packed layout pads it): after ReLU those windows give 0, so they cannot raise the max.
    """

    def __init__(self, widths, **kwargs):
        super().__init__(**kwargs)
        self.widths = tuple(widths)

    def call(self, inputs):
        vectors, ids = inputs
        padding = ids == 0
        position = tf.range(tf.shape(ids)[1])[:, tf.newaxis]
        reaching = position >= tf.constant(self.widths)  # [T, widths]
        penalties = tf.where(padding[..., tf.newaxis] & reaching,
                             tf.constant(_PENALTY, vectors.dtype), tf.zeros([], vectors.dtype))
        vectors = tf.where(padding[..., tf.newaxis], tf.zeros([], vectors.dtype), vectors)
        return tf.concat([vectors, penalties], axis=-1)

    def compute_output_shape(self, input_shape):
        shape = tf.TensorShape(input_shape[0])
        return shape[:-1].concatenate([shape[-1] + len(self.widths)])

    def get_config(self):
        return {**super().get_config(), "widths": list(self.widths)}



@tf_keras.utils.register_keras_serializable(package="tl_text")
class MaxOverTimeConv(Conv1DAsConv2D):
    """`Conv1DAsConv2D` (same weights, same config; "valid", ReLU) followed by the max over
    time, on `WindowPenalties` output: [batch, T, dim + channels] -> [batch, filters].

    The kernel is extended by the penalty channels (1 on channel `channel`, 0 on the others),
    so the masking costs no extra pass over the outputs: conv2d + bias + ReLU is one oneDNN
    primitive and the max one `max_pool2d` over the whole length. Exact only with ReLU (every
    pooled value is >= 0, so the penalised windows' 0 never changes the max).
    """

    def __init__(self, *args, channel: int = 0, channels: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        if self.padding != "valid" or self.activation is not tf_keras.activations.relu:
            raise ValueError("MaxOverTimeConv needs padding='valid' and activation='relu'")
        self.channel, self.channels = channel, channels

    def build(self, input_shape):
        shape = tf.TensorShape(input_shape)
        super().build(shape[:-1].concatenate([shape[-1] - self.channels]))
        self.input_spec = None

    def call(self, inputs):
        width = self.kernel_size[0]
        penalty = np.zeros((width, self.channels, self.filters), np.float32)
        penalty[:, self.channel] = 1
        kernel = tf.concat([tf.cast(self.kernel, self.compute_dtype),
                            tf.constant(penalty, self.compute_dtype)], axis=1)
        outputs = tf.nn.conv2d(inputs[:, tf.newaxis], kernel[tf.newaxis], strides=1,
                               padding="VALID")
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        outputs = tf.nn.relu(outputs)
        if inputs.shape[1] is None:  # oneDNN pools windows of 16, a reduction the rest
            outputs = tf.nn.max_pool2d(outputs, [1, _POOL], [1, _POOL], "SAME")
            return tf.reduce_max(outputs, axis=[1, 2])
        return tf.nn.max_pool2d(outputs, [1, inputs.shape[1] - width + 1], 1, "VALID")[:, 0, 0]

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)[:1].concatenate([self.filters])

    def get_config(self):
        return {**super().get_config(), "channel": self.channel, "channels": self.channels}


@tf_keras.utils.register_keras_serializable(package="tl_text")
class TrimPadding(layers.Layer):
    """Token ids [batch, T], left-aligned, 0 padding -> the first max(longest row,
    `min_length`) columns (at most T): a batch is padded to its longest row only."""

    def __init__(self, min_length: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.min_length = min_length

    def call(self, ids):
        lengths = tf.math.count_nonzero(ids, axis=1, dtype=tf.int32)
        return ids[:, :tf.maximum(tf.reduce_max(lengths), self.min_length)]

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)[:1].concatenate([None])

    def get_config(self):
        return {**super().get_config(), "min_length": self.min_length}


@tf_keras.utils.register_keras_serializable(package="tl_text")
class ZeroPadVectors(layers.Layer):
    """[vectors [..., dim], ids [...]] -> the vectors with those of id 0 (padding) zeroed."""

    def call(self, inputs):
        vectors, ids = inputs
        return vectors * tf.cast(ids != 0, vectors.dtype)[..., tf.newaxis]

    def compute_output_shape(self, input_shape):
        return input_shape[0]


def segment_kmax(values: tf.Tensor, segments: tf.Tensor, k: int) -> tf.Tensor:
    """Per segment and feature, the `k` largest of `values` [n, features] in their order.

    `segments` [n] is sorted. Returns [last segment + 1, k, features]; missing values
    (segments with fewer than k values, or none) are 0.
    """
    position = tf.range(tf.shape(values)[0])[:, tf.newaxis]
    lowest = tf.constant(-np.inf, values.dtype)
    picked, picked_at = [], []
    for step in range(k):
        best = tf.math.segment_max(values, segments)
        picked.append(best)
        if k == 1:
            break
        is_best = (values == tf.gather(best, segments)) & (values > -np.inf)
        at = tf.math.segment_min(tf.where(is_best, position, tf.int32.max), segments)
        picked_at.append(at)
        if step < k - 1:
            values = tf.where(position == tf.gather(at, segments), lowest, values)
    picked = tf.stack(picked, axis=1)  # [segments, k, features]
    picked = tf.where(picked > lowest, picked, tf.zeros_like(picked))
    if k == 1:
        return picked
    order = tf.argsort(tf.stack(picked_at, axis=-1), axis=-1, stable=True)  # [seg, feat, k]
    kept = tf.gather(tf.linalg.matrix_transpose(picked), order, batch_dims=2)
    return tf.linalg.matrix_transpose(kept)


@tf_keras.utils.register_keras_serializable(package="tl_text")
class PackedKMaxPooling(layers.Layer):
    """[valid convolution of `PackRows` frames, ids [..., T]] -> [..., k * features]:
    k-max pooling over each row's own outputs (same `gap` and `min_length` as `PackRows`).

    `padding="same"` pools one output per token, centred on it as a "same" convolution
    would be; "valid" one per window of `width` tokens in the row (a single one, padded
    with zero vectors, for a row shorter than `width`). Empty rows give 0.
    """

    def __init__(self, k: int, width: int, gap: int, min_length: int = 0,
                 padding: str = "same", **kwargs):
        super().__init__(**kwargs)
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, not {padding!r}")
        self.k, self.width, self.gap = k, width, gap
        self.min_length, self.padding = min_length, padding

    def call(self, inputs):
        outputs, ids = inputs
        frame_length = tf.shape(outputs)[1] - (2 * self.gap - self.width + 1)
        outputs = tf.reshape(outputs[:, :frame_length], [-1, outputs.shape[-1]])
        lengths, starts = _packed_layout(ids, self.gap, self.min_length)
        if self.padding == "same":
            first, windows = starts - (self.width - 1) // 2, lengths
        else:
            first, windows = starts, tf.maximum(lengths - self.width + 1, 1)
        kept = lengths > 0
        positions = tf.ragged.range(tf.boolean_mask(first, kept),
                                    tf.boolean_mask(first + windows, kept))
        pooled = segment_kmax(tf.gather(outputs, positions.flat_values),
                              positions.value_rowids(), self.k)
        pooled = tf.scatter_nd(tf.cast(tf.where(kept), tf.int32), pooled,
                               [tf.size(lengths), self.k, outputs.shape[-1]])
        features = self.k * outputs.shape[-1]
        return tf.reshape(pooled, tf.concat([tf.shape(ids)[:-1], [features]], 0))

    def compute_output_shape(self, input_shape):
        ids_shape = tf.TensorShape(input_shape[1])
        return ids_shape[:-1].concatenate([self.k * input_shape[0][-1]])

    def get_config(self):
        return {**super().get_config(), "k": self.k, "width": self.width, "gap": self.gap,
                "min_length": self.min_length, "padding": self.padding}


@tf_keras.utils.register_keras_serializable(package="tl_text")
class KMaxPooling(layers.Layer):
    """Keep the `k` largest values of every feature map, in their original order.

    Pools the steps axis, the one before the feature axis: [..., steps, features] ->
    [..., k, features]. Called on [values, ids [..., steps, T]], it pools only the steps
    whose row of ids is not all padding (0 where fewer than `k` are). Needs `k` steps.
    """

    def __init__(self, k: int, **kwargs):
        super().__init__(**kwargs)
        self.k = k

    def call(self, inputs):
        values, ids = inputs if isinstance(inputs, (list, tuple)) else (inputs, None)
        if ids is not None:
            values = tf.where(tf.reduce_any(ids != 0, axis=-1)[..., tf.newaxis], values,
                              tf.constant(-np.inf, values.dtype))
        maps = tf.linalg.matrix_transpose(values)  # [..., features, steps]
        top = tf.math.top_k(maps, k=self.k, sorted=False).indices
        kept = tf.linalg.matrix_transpose(tf.gather(maps, tf.sort(top), batch_dims=-1))
        return kept if ids is None else tf.where(kept > -np.inf, kept, tf.zeros_like(kept))

    def compute_output_shape(self, input_shape):
        shape = input_shape[0] if isinstance(input_shape, (list, tuple)) else input_shape
        shape = tf.TensorShape(shape)
        return shape[:-2].concatenate([self.k, shape[-1]])

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
        ids = sentences.with_flat_values(self.words(sentences.flat_values))
        return ids.to_tensor(shape=[None, self.max_sentences, self.words_per_sentence])

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
            dropout: float = 0.5, formulation: str | None = None, trim_padding: bool = True,
            name: str = "kim_cnn") -> tf_keras.Model:
    """Kim (2014): parallel convolutions of several widths, max over time, dropout, softmax.

    Two formulations give the same outputs from the same weights: "packed" (the rows back to
    back, segment max: no convolution of padding, fastest in float32) and "padded"
    (`WindowPenalties` + `MaxOverTimeConv`: conv2d + ReLU + `max_pool2d` over all
    positions, oneDNN primitives only, fastest in bfloat16). None: "padded" when the
    Keras dtype policy computes in bfloat16, else "packed". `trim_padding` cuts each batch's
    ids to its longest review (`TrimPadding`, at least the widest filter) before the embedding:
    the same outputs, less padding to embed and convolve (False: all `sequence_length`
    columns, as before).
    """
    if formulation is None:
        bfloat16 = tf_keras.mixed_precision.global_policy().compute_dtype == "bfloat16"
        formulation = "padded" if bfloat16 else "packed"
    if formulation not in FORMULATIONS:
        raise ValueError(f"formulation must be one of {FORMULATIONS}, not {formulation!r}")
    texts = layers.Input(shape=(), dtype=tf.string, name="text")
    ids = vectorizer(texts)  # [batch, T]
    if trim_padding:
        ids = TrimPadding(max(filter_sizes))(ids)
    embedding = _embedding(embedding_matrix, vectorizer.vocabulary_size(), trainable_embeddings)
    if formulation == "padded":
        x = WindowPenalties(filter_sizes)([embedding(ids), ids])
        pooled = [MaxOverTimeConv(filters, width, activation="relu", channel=channel,
                                  channels=len(filter_sizes))(x)
                  for channel, width in enumerate(filter_sizes)]
    else:
        gap = max(filter_sizes) - 1
        packed = PackRows(gap, min_length=1)(ids)
        x = ZeroPadVectors()([embedding(packed), packed])
        pooled = [PackedKMaxPooling(1, width, gap, min_length=1, padding="valid")(
            [Conv1DAsConv2D(filters, width, activation="relu")(x), ids])
            for width in filter_sizes]
    x = layers.Concatenate()(pooled) if len(pooled) > 1 else pooled[0]
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities",
                           dtype="float32")(x)
    return tf_keras.Model(texts, outputs, name=name)


def denil_cnn(vectorizer, embedding_matrix, num_classes: int = 2,
              trainable_embeddings: bool = True, max_sentences: int = 30,
              words_per_sentence: int = 50, sentence_filters: int = 100,
              sentence_width: int = 5, k_sentence: int = 2, document_filters: int = 100,
              document_width: int = 3, k_document: int = 2, activation: str = "tanh",
              conv_activation: str | None = "relu", dropout: float = 0.5,
              name: str = "denil_cnn") -> tf_keras.Model:
    """Denil et al. (2014): convolve words within sentences, then sentences within documents.

    `vectorizer` supplies only the vocabulary (any sequence length, e.g. the Kim CNN's);
    sentences are vectorised to `words_per_sentence` ids with that vocabulary. Each level is
    a "same" convolution (`conv_activation`), k-max pooling over the sentence's words or
    the document's sentences, and `activation` (tanh as in the paper), so
    k_sentence <= words_per_sentence and k_document <= max_sentences. The defaults cover
    IMDB reviews (median 10 sentences of 19 words; 5% have more than 30 sentences).
    ReLU before the pooling: without it, 1,250 IMDB reviews gave 3 to 6 points less.
    """
    texts = layers.Input(shape=(), dtype=tf.string, name="text")
    sentences = SentenceVectorizer(vocabulary(vectorizer), max_sentences, words_per_sentence,
                                   name="sentence_vectorizer")
    embedding = _embedding(embedding_matrix, sentences.vocabulary_size(), trainable_embeddings)
    ids = sentences(texts)  # [batch, S, W]
    gap = sentence_width // 2
    packed = PackRows(gap)(ids)  # the sentences back to back
    x = ZeroPadVectors()([embedding(packed), packed])
    x = Conv1DAsConv2D(sentence_filters, sentence_width, activation=conv_activation)(x)
    x = PackedKMaxPooling(k_sentence, sentence_width, gap)([x, ids])  # [batch, S, k * filters]
    x = layers.Activation(activation, name="sentence_vectors")(x)
    x = Conv1DAsConv2D(document_filters, document_width, padding="same",
                      activation=conv_activation)(x)
    x = KMaxPooling(k_document)([x, ids])
    x = layers.Activation(activation)(layers.Flatten()(x))
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities",
                           dtype="float32")(x)
    return tf_keras.Model(texts, outputs, name=name)


def embedding_weights(model: tf_keras.Model) -> np.ndarray:
    """The current [vocab_size, dim] matrix of the model's "embedding" layer."""
    return model.get_layer("embedding").get_weights()[0]
