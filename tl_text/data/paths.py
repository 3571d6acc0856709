"""Where corpora live: the data root, and the official downloads when it lacks a file."""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from tl_text.errors import DataError

DATA_ENV = "TL_TEXT_DATA"
DEFAULT_ROOT = Path("~/.cache/tl_text/data")
DIGESTS = {32: "md5", 64: "sha256"}  # hex length -> algorithm of a checksum


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """`data_dir` if given, else $TL_TEXT_DATA, else ~/.cache/tl_text/data."""
    root = data_dir or os.environ.get(DATA_ENV) or DEFAULT_ROOT
    return Path(root).expanduser()


def locate(relative: str, data_dir=None, url: str | None = None,
           checksum: str | None = None) -> Path:
    """Path of `relative` under the data root; downloads it from `url` when missing.

    `checksum` is the file's MD5 or SHA-256. Offline, or with no official `url`, the error
    says where the file is expected.
    """
    path = data_root(data_dir) / relative
    if path.exists():
        return path
    hint = f"point ${DATA_ENV} / --data-dir at a folder holding {relative}"
    if url is None:
        raise DataError(path, f"not found; put the file there or {hint}")
    try:
        return download(url, path, checksum)
    except OSError as err:
        raise download_error(url, path, err, hint) from err


def download_error(url: str, path: Path, err: Exception, hint: str = "") -> DataError:
    """The error for a failed download: which URL, and where to put the file by hand."""
    return DataError(path, f"not found, and downloading {url} failed ({err}); offline, copy "
                           f"the file there{' or ' * bool(hint)}{hint}")


def download(url: str, dest: Path, checksum: str | None = None) -> Path:
    """Fetch `url` to `dest` through `<dest>.part`, renamed once complete and verified.

    A `.part` left by an interrupted run is resumed with an HTTP Range request (restarted
    when the server ignores it). Fewer bytes than announced raise DataError and keep the
    `.part` for the next try. `checksum` is an MD5 or SHA-256 hex digest.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as err:
        if err.code != 416 or not have:  # 416: the .part is already as long as the file
            raise
        part.unlink()
        return download(url, dest, checksum)
    dest.parent.mkdir(parents=True, exist_ok=True)  # only now: a failed try leaves no folders
    with response, open(part, "ab") as out:
        if response.status != 206:  # a full answer (no .part, or Range ignored): start over
            out.truncate(0)
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length else None
        with tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                  desc=dest.name, leave=False, disable=not sys.stderr.isatty()) as bar:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                bar.update(len(chunk))
    got = part.stat().st_size
    if total is not None and got < total:
        raise DataError(url, f"truncated transfer: got {got:,} of {total:,} bytes; {part} is "
                             "kept, and the next try resumes it")
    if checksum:
        verify(part, checksum, url)
    os.replace(part, dest)
    return dest


def verify(path: Path, checksum: str, source) -> None:
    """Check `path` against an MD5 or SHA-256 hex digest; a mismatch removes it (DataError)."""
    algorithm = DIGESTS.get(len(checksum))
    if algorithm is None:
        raise ValueError(f"{checksum!r} is neither an MD5 nor a SHA-256 hex digest")
    with open(path, "rb") as file:
        actual = hashlib.file_digest(file, algorithm).hexdigest()
    if actual != checksum.lower():
        Path(path).unlink()
        raise DataError(source, f"checksum mismatch: {algorithm} {actual}, expected {checksum}; "
                                "the download was removed")
