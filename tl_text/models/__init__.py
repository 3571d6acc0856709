"""CNN text classifiers that take raw strings, and the in-graph vectorisation they share."""

from tl_text.models.cnn import (KMaxPooling, SentenceVectorizer, denil_cnn, embedding_weights,
                                kim_cnn)
from tl_text.models.text import (Vectorizer, make_vectorizer, split_sentences, standardize,
                                 vectorizer_from_vocabulary, vocabulary)

__all__ = ["KMaxPooling", "SentenceVectorizer", "Vectorizer", "denil_cnn", "embedding_weights",
           "kim_cnn", "make_vectorizer", "split_sentences", "standardize",
           "vectorizer_from_vocabulary", "vocabulary"]
