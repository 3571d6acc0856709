"""Labelled documents of source files, streamed, with a validation part held out by hash.

A file's format is told from its name as `load_corpus` tells it: fastText `.ft.txt`,
amazon_review_polarity CSV, Blitzer `.review` files (or the `sorted_data_acl` tar.gz/folder),
or a CSV/TSV/JSONL table, whose raw `labels` must then be listed in class order (a stream
cannot sort the classes before it has read them all). Compressed files stream too.

The validation part is every document whose text hashes (BLAKE2b) into the first
`validation` of the hash range: the same documents on every pass, every worker and every
read order, with no pass to count the corpus first, and copies of a text never on both sides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from tl_text.data.amazon import (LABEL_NAMES, _review_files, iter_fasttext, iter_polarity_csv,
                                 iter_review_file)
from tl_text.data.dataset import Example
from tl_text.data.files import _label_text, iter_records
from tl_text.data.lines import read_lines
from tl_text.errors import ConfigError, DataError

PARTS = ("train", "valid", "all")
_HASH_RANGE = 2 ** 64


def is_held_out(text: str, validation: float) -> bool:
    """Whether `text` belongs to the validation part (a fixed `validation` share by hash)."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") < validation * _HASH_RANGE


def label_names(path: str | Path, labels: Sequence[str] | None = None) -> tuple[str, ...]:
    """The class names of a source file: neg/pos for the Amazon formats, else `labels`."""
    if _is_table(Path(path)):
        if not labels:
            raise ConfigError(f"{path}: a streamed table needs its labels in class order")
        return tuple(str(v) for v in labels)
    return LABEL_NAMES


def iter_examples(path: str | Path, text_column: str = "text", label_column: str = "label",
                  labels: Sequence[str] | None = None, skip_empty: bool = False
                  ) -> Iterator[Example]:
    """Stream the labelled documents of one source file (see the module docstring)."""
    path = Path(path)
    name = path.name
    if "sorted_data_acl" in name:
        for member, domain, lines in _review_files(path):
            yield from iter_review_file(lines, member, domain)
    elif name.endswith(".review"):
        yield from iter_review_file(read_lines(path), str(path), path.parent.name)
    elif ".ft.txt" in name:
        yield from iter_fasttext(path, skip_empty)
    elif _is_table(path):
        yield from _iter_table(path, text_column, label_column,
                               label_names(path, labels), skip_empty)
    else:
        yield from iter_polarity_csv(path, skip_empty)


def iter_documents(paths: Sequence[str | Path], part: str = "all", validation: float = 0.1,
                   num_shards: int = 1, shard: int = 0, **options) -> Iterator[tuple[str, int]]:
    """(text, label) of the `part` ("train", "valid" or "all") of the files, in file order;
    with `num_shards`, only every num_shards-th document of the part from the `shard`-th on."""
    if part not in PARTS:
        raise ConfigError(f"part must be one of {PARTS}, not {part!r}")
    if not 0 <= shard < num_shards:
        raise ConfigError(f"shard {shard} is not in 0..{num_shards - 1}")
    index = 0
    for path in paths:
        for example in iter_examples(path, **options):
            if part != "all" and is_held_out(example.text, validation) != (part == "valid"):
                continue
            if index % num_shards == shard:
                yield example.text, example.label
            index += 1


def _is_table(path: Path) -> bool:
    if ".ft.txt" in path.name or path.name.endswith(".review") or "sorted_data_acl" in path.name:
        return False
    first = next(read_lines(path), (0, ""))[1] if path.name.lower().endswith(
        (".csv", ".csv.gz", ".csv.bz2", ".csv.xz")) else ""
    return not first.startswith(('"1",', '"2",', "1,", "2,"))


def _iter_table(path: Path, text_column: str, label_column: str, classes: tuple[str, ...],
                skip_empty: bool) -> Iterator[Example]:
    index = {label: i for i, label in enumerate(classes)}
    for lineno, record in iter_records(path):
        for column in (text_column, label_column):
            if column not in record:
                raise DataError(path, f"no column {column!r}", line=lineno)
        text, label = record[text_column], _label_text(record[label_column])
        if label not in index:
            raise DataError(path, f"unknown label {label[:40]!r} (expected one of "
                                  f"{list(classes)})", line=lineno, field=label_column)
        if not isinstance(text, str) or not text.strip():
            if skip_empty:
                continue
            raise DataError(path, "empty document", line=lineno, field=text_column)
        yield Example(str(lineno), text.strip(), index[label])
