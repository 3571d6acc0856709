"""Line-by-line reading of (optionally compressed) text files with file:line error messages."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from pathlib import Path
from typing import IO, Iterator

from tl_text.errors import DataError

_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def open_binary(path: Path) -> io.BufferedIOBase:
    """Open a plain, .gz, .bz2 or .xz file for binary reading."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    return _OPENERS.get(path.suffix, open)(path, "rb")


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line without its newline), decoding UTF-8 strictly.

    Streams: memory use does not grow with the file. A leading BOM is dropped.
    """
    path = Path(path)
    lineno = 0
    try:
        with open_binary(path) as stream:
            for lineno, line in decode_lines(stream, path):
                yield lineno, line
    except (EOFError, OSError, zlib.error, lzma.LZMAError) as err:  # corrupt compressed stream
        raise DataError(path, f"corrupt or truncated file after line {lineno} ({err})") from err


def decode_lines(stream: IO[bytes], source) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its newline) of a binary stream, as strict UTF-8,
    a leading BOM dropped; a bad byte raises DataError naming `source` and the line."""
    for lineno, raw in enumerate(stream, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DataError(source, f"not UTF-8 ({err.reason} at byte {err.start})",
                            line=lineno) from None
        if lineno == 1:
            line = line.removeprefix("\ufeff")
        yield lineno, line.rstrip("\r\n")
