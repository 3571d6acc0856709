"""Embedding matrices for a Keras `TextVectorization` vocabulary: build, update, extract.

Row i of a matrix belongs to `vocabulary[i]` (str, or the np.str_ that get_vocabulary()
returns). Index 0 is the padding token "" (always an all-zero row) and index 1 is the
out-of-vocabulary token "[UNK]" (initialised like any word without a pretrained vector);
neither counts as a word in the reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np

from tl_text.embeddings.vectors import WordVectors

PADDING = ""
OOV_TOKEN = "[UNK]"
MISSING_EXAMPLES = 10


@dataclass
class CoverageReport:
    """How many vocabulary words `build_matrix` found in the pretrained vectors."""

    total: int
    found: int
    missing_examples: list[str]

    @property
    def missing(self) -> int:
        return self.total - self.found

    @property
    def coverage(self) -> float:
        return self.found / self.total if self.total else 0.0

    def __str__(self) -> str:
        text = f"found {self.found:,} of {self.total:,} words ({100 * self.coverage:.1f} %)"
        if self.missing_examples:
            text += "; missing e.g. " + ", ".join(map(repr, self.missing_examples))
        return text


@dataclass
class UpdateReport:
    """How many vocabulary words `update_embeddings` gave a tuned vector."""

    updated: int
    total: int

    def __str__(self) -> str:
        return f"{self.updated:,} of {self.total:,} words updated"


def build_matrix(vectors: WordVectors, vocabulary: Sequence[str], oov: str = "random",
                 seed: int = 0, lowercase_fallback: bool = True
                 ) -> tuple[np.ndarray, CoverageReport]:
    """A float32 [len(vocabulary), dim] matrix whose row i is the vector of `vocabulary[i]`.

    Words without a vector (and "[UNK]") get `oov="random"`: normal(0, std) draws, with the
    per-dimension std of the vectors found (of all `vectors` if fewer than two are found),
    from a generator seeded with `seed`; or `oov="zeros"`. With `lowercase_fallback`,
    "Great" takes the vector of "great" when it has none of its own.
    """
    if oov not in ("random", "zeros"):
        raise ValueError(f"oov must be 'random' or 'zeros', not {oov!r}")
    matrix = np.zeros((len(vocabulary), vectors.dim), dtype=np.float32)
    found_rows, sources, missing_rows = [], [], []
    for row, word in _words(vocabulary):
        source = vectors.index.get(word)
        if source is None and lowercase_fallback:
            source = vectors.index.get(word.lower())
        if source is None:
            missing_rows.append(row)
        else:
            found_rows.append(row)
            sources.append(source)
    matrix[found_rows] = vectors.vectors[sources]
    unknown_rows = missing_rows + [row for row, word in enumerate(vocabulary) if word == OOV_TOKEN]
    if oov == "random" and unknown_rows:
        known = matrix[found_rows] if len(found_rows) > 1 else vectors.vectors
        rng = np.random.default_rng(seed)
        scale = known.std(axis=0)
        matrix[unknown_rows] = rng.normal(0.0, scale, size=(len(unknown_rows), vectors.dim))

    examples = [str(vocabulary[row]) for row in missing_rows[:MISSING_EXAMPLES]]
    return matrix, CoverageReport(len(found_rows) + len(missing_rows), len(found_rows), examples)


def update_embeddings(matrix: np.ndarray, vocabulary: Sequence[str],
                      tuned: WordVectors) -> tuple[np.ndarray, UpdateReport]:
    """A copy of `matrix` in which every vocabulary word in `tuned` has its tuned vector."""
    _check_rows(matrix, vocabulary)
    if tuned.dim != matrix.shape[1]:
        raise ValueError(f"tuned vectors have dim {tuned.dim} "
                         f"but the matrix has dim {matrix.shape[1]}")
    updated = np.array(matrix, copy=True)
    rows, sources, total = [], [], 0
    for row, word in _words(vocabulary):
        total += 1
        source = tuned.index.get(word)
        if source is not None:
            rows.append(row)
            sources.append(source)
    updated[rows] = tuned.vectors[sources]
    return updated, UpdateReport(len(rows), total)


def vectors_from_matrix(vocabulary: Sequence[str], matrix: np.ndarray,
                        only: Iterable[str] | None = None) -> WordVectors:
    """The rows of `matrix` as word vectors, without "" and "[UNK]" (inverse of build_matrix).

    With `only`, keeps just those words (e.g. the words of the source training data).
    """
    _check_rows(matrix, vocabulary)
    keep = None if only is None else set(only)
    rows = [row for row, word in _words(vocabulary) if keep is None or word in keep]
    return WordVectors([str(vocabulary[row]) for row in rows], np.asarray(matrix)[rows])


def _words(vocabulary: Sequence[str]) -> Iterator[tuple[int, str]]:
    """(row, word) for each vocabulary entry except the padding and OOV tokens."""
    for row, word in enumerate(vocabulary):
        if word not in (PADDING, OOV_TOKEN):
            yield row, word


def _check_rows(matrix: np.ndarray, vocabulary: Sequence[str]) -> None:
    if len(matrix) != len(vocabulary):
        raise ValueError(f"the matrix has {len(matrix)} rows "
                         f"but the vocabulary {len(vocabulary)} words")
