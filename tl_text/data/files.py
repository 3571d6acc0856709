"""Any CSV, TSV or JSONL file with a text column and a label column.

TSV (`.tsv`, `.txt`) is read without quoting, as NSMC and most TSV exports are written;
CSV follows RFC 4180 (quotes doubled, quoted fields may span lines). The first row of CSV/TSV
is the header.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from tl_text.data.dataset import Example, TextDataset
from tl_text.data.lines import read_lines
from tl_text.errors import DataError

FORMATS = ("csv", "tsv", "jsonl")


def table_format(path: Path) -> str:
    """csv, tsv or jsonl from the file name (compression suffixes ignored)."""
    suffixes = [s.lower() for s in Path(path).suffixes if s.lower() not in (".gz", ".bz2", ".xz")]
    suffix = suffixes[-1] if suffixes else ""
    fmt = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl",
           ".json": "jsonl", ".ndjson": "jsonl"}.get(suffix)
    if fmt is None:
        raise DataError(path, f"cannot tell the format from {suffix or 'no suffix'!r}; "
                              f"name one of {FORMATS}")
    return fmt


def iter_records(path: Path, fmt: str | None = None) -> Iterator[tuple[int, dict]]:
    """Stream (line number, {column: value}) rows of a CSV/TSV/JSONL file.

    The line number is where the record starts: a quoted CSV field may span lines (its line
    breaks come back as line feeds, also from CRLF files).
    """
    path = Path(path)
    fmt = fmt or table_format(path)
    lines = read_lines(path)
    if fmt == "jsonl":
        for lineno, line in lines:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(path, f"invalid JSON ({err.msg})", line=lineno) from err
            if not isinstance(record, dict):
                raise DataError(path, "expected a JSON object per line", line=lineno)
            yield lineno, record
        return
    dialect = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if fmt == "tsv" else {}
    # read_lines drops the line breaks: csv.reader needs them back to keep a quoted one.
    reader = csv.reader((line + "\n" for _, line in lines), **dialect)
    start = 1  # the line where the record being read starts (reader.line_num is its last)
    try:
        header = next(reader, None)
        if header is None:
            raise DataError(path, "empty file (no header row)")
        start = reader.line_num + 1
        for row in reader:
            if row:
                if len(row) != len(header):
                    raise DataError(path, f"expected {len(header)} fields "
                                          f"({', '.join(header)}), got {len(row)}"
                                          f"{_span(start, reader.line_num)}", line=start)
                yield start, dict(zip(header, row))
            start = reader.line_num + 1
    except csv.Error as err:
        raise DataError(path, f"malformed {fmt.upper()} ({err}){_span(start, reader.line_num)}",
                        line=start) from err


def _span(start: int, end: int) -> str:
    """A note for records over several lines, where an unbalanced quote may have joined them."""
    return f" in lines {start}-{end} (an unbalanced quote?)" if end > start else ""


def load_table(path: str | Path, text_column: str = "text", label_column: str = "label",
               labels: Sequence[str] | None = None, label_names: Sequence[str] | None = None,
               id_column: str | None = None, fmt: str | None = None,
               skip_empty: bool = False, name: str | None = None) -> TextDataset:
    """Read a labelled table into a TextDataset.

    `labels` lists the raw label values in class order (e.g. ["0", "1"] or ["neg", "pos"]);
    a value outside it is an error. Without it, the classes are the sorted distinct values
    (numerically when all are numbers). `label_names` renames the classes (default: `labels`).
    Ids come from `id_column` (default: the line numbers); a repeated id is an error naming
    both lines, since ids select fractions and keep training documents apart.
    """
    path = Path(path)
    known = [str(v) for v in labels] if labels is not None else None
    raw: list[tuple[str, str, str]] = []
    first_line: dict[str, int] = {}  # id -> line
    for lineno, record in iter_records(path, fmt):
        for column in (text_column, label_column, id_column):
            if column is not None and column not in record:
                raise DataError(path, f"no column {column!r} (columns: "
                                      f"{', '.join(map(str, record))})", line=lineno)
        text = record[text_column]
        if not isinstance(text, str):
            raise DataError(path, f"text is {type(text).__name__}, not a string",
                            line=lineno, field=text_column)
        label = _label_text(record[label_column])
        if not label:
            raise DataError(path, "missing label", line=lineno, field=label_column)
        if known is not None and label not in known:
            raise DataError(path, f"unknown label {label[:40]!r} (expected one of {known})",
                            line=lineno, field=label_column)
        if not text.strip():
            if skip_empty:
                continue
            raise DataError(path, "empty document", line=lineno, field=text_column)
        doc_id = str(record[id_column]) if id_column else str(lineno)
        if id_column and first_line.setdefault(doc_id, lineno) != lineno:
            raise DataError(path, f"duplicate id {doc_id[:40]!r} (first on line "
                                  f"{first_line[doc_id]})", line=lineno, field=id_column)
        raw.append((doc_id, text.strip(), label))
    if not raw:
        raise DataError(path, "no documents")
    classes = known or _sorted_labels({label for _, _, label in raw})
    index = {label: i for i, label in enumerate(classes)}
    examples = (Example(doc_id, text, index[label]) for doc_id, text, label in raw)
    return TextDataset.from_examples(name or path.stem, examples, label_names or classes)


def _label_text(value) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _sorted_labels(values: set[str]) -> list[str]:
    try:
        return sorted(values, key=float)
    except ValueError:
        return sorted(values)
