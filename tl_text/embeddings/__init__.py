"""Pretrained word vectors for Keras embedding layers: load and save them, adapt them to a
domain with word2vec, build an embedding matrix for a `TextVectorization` vocabulary, and fold
tuned rows back in."""

from tl_text.embeddings.adapt import adapt_vectors, cnn_words
from tl_text.embeddings.matrix import (CoverageReport, UpdateReport, build_matrix,
                                       update_embeddings, vectors_from_matrix)
from tl_text.embeddings.vectors import PACKAGED_GLOVE, WordVectors, load_vectors, save_word2vec

__all__ = [
    "PACKAGED_GLOVE", "WordVectors", "load_vectors", "save_word2vec", "adapt_vectors", "cnn_words",
    "CoverageReport", "build_matrix", "UpdateReport", "update_embeddings", "vectors_from_matrix",
]
