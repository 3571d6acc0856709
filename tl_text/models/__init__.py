"""Text classifiers that take raw strings: CNNs with in-graph vectorisation, transformers."""

from tl_text.models.cnn import (KMaxPooling, SentenceVectorizer, denil_cnn, embedding_weights,
                                kim_cnn)
from tl_text.models.text import (Vectorizer, make_vectorizer, split_sentences, standardize,
                                 vectorizer_from_vocabulary, vocabulary)
from tl_text.models.transformer import TransformerClassifier

__all__ = ["KMaxPooling", "SentenceVectorizer", "TransformerClassifier", "Vectorizer",
           "denil_cnn", "embedding_weights", "kim_cnn", "make_vectorizer", "split_sentences",
           "standardize", "vectorizer_from_vocabulary", "vocabulary"]
