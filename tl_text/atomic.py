"""Write files so that readers never see half of one: a temp file beside it, then a rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from tl_text.errors import ConfigError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path next to `path`; on success it replaces `path`, on error it is removed."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically; returns `path`."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a hidden folder beside `path`, renamed to `path` on success, removed on error.

    `path` must not exist yet (a folder is never replaced): FileExistsError otherwise.
    """
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield staging
        os.chmod(staging, 0o755)
        try:
            os.rename(staging, path)
        except OSError as err:  # another writer created `path` in the meantime
            raise FileExistsError(f"{path} already exists") from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def check_writable_folder(path: str | os.PathLike, option: str = "--out") -> None:
    """ConfigError naming `option` unless `path` is, or can become, a folder this process can
    write in (not: an existing file on the way, a folder without write permission). Creates
    nothing, so that a bad option is refused before any work."""
    path = Path(path).expanduser()
    existing = path.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{option} {path}: {existing} is a file, not a folder; choose "
                          f"another {option}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: cannot write in the folder {existing} "
                          f"(permission denied or read-only); choose another {option}")
