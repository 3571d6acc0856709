"""Where corpora live: the data root, and the official downloads when it lacks a file."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

from tl_text.atomic import atomic_path
from tl_text.errors import DataError

DATA_ENV = "TL_TEXT_DATA"
DEFAULT_ROOT = Path("~/.cache/tl_text/data")


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """`data_dir` if given, else $TL_TEXT_DATA, else ~/.cache/tl_text/data."""
    root = data_dir or os.environ.get(DATA_ENV) or DEFAULT_ROOT
    return Path(root).expanduser()


def locate(relative: str, data_dir=None, url: str | None = None, md5: str | None = None) -> Path:
    """Path of `relative` under the data root; downloads it from `url` when missing.

    Offline, or with no official `url`, the error says where the file is expected.
    """
    path = data_root(data_dir) / relative
    if path.exists():
        return path
    if url is None:
        raise DataError(path, f"not found; put the file there or point ${DATA_ENV} / "
                              f"--data-dir at a folder holding {relative}")
    try:
        download(url, path, md5)
    except OSError as err:
        raise DataError(path, f"not found, and downloading {url} failed ({err}); offline, "
                              f"copy the file there or point ${DATA_ENV} / --data-dir at a "
                              f"folder holding {relative}") from err
    return path


def download(url: str, dest: Path, md5: str | None = None) -> Path:
    """Fetch `url` to `dest` through a temp file; checks the MD5 before the rename."""
    digest = hashlib.md5()
    with atomic_path(dest) as tmp, open(tmp, "wb") as out, \
            urllib.request.urlopen(url, timeout=60) as response:
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
        if md5 and digest.hexdigest() != md5:
            raise DataError(url, f"checksum mismatch: md5 {digest.hexdigest()}, expected {md5}")
    return dest
