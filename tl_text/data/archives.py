"""Streamed reading of tar archives (.tar, .tar.gz/.bz2/.xz), the one place where corpus
readers walk tar members: each member is read whole inside the guard, so a truncated or
corrupt archive is a DataError naming the archive and the member, never a raw tarfile error."""

from __future__ import annotations

import lzma
import tarfile
import zlib
from pathlib import Path
from typing import Callable, Iterator

from tl_text.errors import DataError

_CORRUPT = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError)


def tar_files(archive: Path, wanted: Callable[[str], object] = bool
              ) -> Iterator[tuple[str, bytes]]:
    """(member name, contents) of each regular file whose name `wanted` accepts, in storage
    order; the others are skipped unread."""
    archive = Path(archive)
    if not archive.is_file():
        raise DataError(archive, "file not found")
    member = None
    try:
        with tarfile.open(archive, "r|*") as tar:
            for info in tar:
                member = info.name
                if info.isfile() and wanted(member):
                    yield member, tar.extractfile(info).read()
    except _CORRUPT as err:
        where = f" at member {member}" if member else ""
        raise DataError(archive, f"corrupt or truncated archive{where} ({err})") from err
