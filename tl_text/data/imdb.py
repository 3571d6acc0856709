"""IMDB Large Movie Review Dataset v1.0 (Maas et al., 2011), from the archive or its folder.

Layout: `aclImdb/{train,test}/{pos,neg}/ID_RATING.txt` and `aclImdb/train/unsup/ID_0.txt`.
Labels: 0 = neg, 1 = pos; the unsup split has label -1. `<br />` markup becomes a space.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Iterator

from tl_text.data.archives import tar_files
from tl_text.data.dataset import Example, TextDataset
from tl_text.data.paths import data_root, locate
from tl_text.errors import DataError

URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
MD5 = "7c2ac02c03563afcf9b574c7e56c153a"
ARCHIVE = "imdb/aclImdb_v1.tar.gz"
LABEL_NAMES = ("neg", "pos")
SPLITS = ("train", "test", "unsup")
UNLABELLED = -1

_MEMBER = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg|unsup)/(\d+)_(\d+)\.txt$")
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def load_imdb(splits: Iterable[str] = ("train", "test"), data_dir=None,
              path: str | Path | None = None) -> dict[str, TextDataset]:
    """Read IMDB splits from `path` (archive or extracted `aclImdb/`), default the data root.

    Returns {split: TextDataset} with examples sorted by id (e.g. "train/pos/10003").
    """
    splits = tuple(splits)
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown IMDB split(s) {sorted(unknown)}; choose from {SPLITS}")
    source = Path(path) if path else _default_source(data_dir)
    examples: dict[str, list[Example]] = {s: [] for s in splits}
    for split, example in iter_imdb(source, splits):
        examples[split].append(example)
    out = {}
    for split in splits:
        if not examples[split]:
            raise DataError(source, f"no {split} reviews found (is this the aclImdb archive?)")
        ordered = sorted(examples[split], key=_sort_key)
        out[split] = TextDataset.from_examples(f"imdb/{split}", ordered, LABEL_NAMES)
    return out


def iter_imdb(source: Path, splits: Iterable[str] = SPLITS) -> Iterator[tuple[str, Example]]:
    """Stream (split, Example) from the archive or folder, in storage order."""
    wanted = set(splits)

    def split_of(name: str) -> str | None:
        match = _MEMBER.search(name)
        if not match:
            return None
        part, kind = match.group(1, 2)
        split = "unsup" if kind == "unsup" else part
        return split if split in wanted else None

    files = tar_files(source, split_of) if source.is_file() else _folder_files(source, split_of)
    for name, raw in files:
        part, kind, doc_id, rating = _MEMBER.search(name).groups()
        where = f"{source}:{name}" if source.is_file() else name
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DataError(where, f"not UTF-8 ({err.reason} at byte {err.start})") from err
        text = _BREAK.sub(" ", text).strip()
        if not text:
            raise DataError(where, "empty review")
        label = UNLABELLED if kind == "unsup" else LABEL_NAMES.index(kind)
        yield split_of(name), Example(f"{part}/{kind}/{doc_id}", text, label,
                                      {"rating": int(rating)})


def _default_source(data_dir) -> Path:
    folder = data_root(data_dir) / "imdb" / "aclImdb"
    return folder if folder.is_dir() else locate(ARCHIVE, data_dir, URL, MD5)


def _folder_files(folder: Path, wanted) -> Iterator[tuple[str, bytes]]:
    """(name as in the archive, contents) of the wanted files of an extracted `aclImdb/`."""
    if not folder.is_dir():
        raise DataError(folder, "not found")
    base = folder.parent
    for path in sorted(folder.rglob("*.txt")):
        name = path.relative_to(base).as_posix()
        if wanted(name):
            yield name, path.read_bytes()


def _sort_key(example: Example):
    kind, doc_id = example.id.rsplit("/", 2)[1:]
    return kind, int(doc_id)
