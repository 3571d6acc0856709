"""Write files so that readers never see half of one: a temp file beside it, then a rename.
Temp names carry the writer's process id, so that those of killed writers get cleaned up."""

from __future__ import annotations

import contextlib
import os
import re
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
    remove_abandoned(path.parent)
    fd, tmp = tempfile.mkstemp(**_temp_name(path.parent, path.name))
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


def atomic_save_array(path: str | os.PathLike, array) -> Path:
    """`array` saved as .npy (no pickle) to `path`, atomically."""
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return atomic_write(path, buffer.getvalue())


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a hidden folder beside `path`, renamed to `path` on success, removed on error.

    `path` must not exist yet (a folder is never replaced): FileExistsError otherwise.
    """
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    with scratch_folder(path.parent, path.name) as staging:
        yield staging
        os.chmod(staging, 0o755)
        try:
            os.rename(staging, path)
        except OSError as err:  # another writer created `path` in the meantime
            raise FileExistsError(f"{path} already exists") from err


@contextlib.contextmanager
def scratch_folder(parent: str | os.PathLike, name: str = "scratch") -> Iterator[Path]:
    """Yield a new hidden folder in `parent` (never the system temp folder), removed on exit,
    as are the folders on the way to it that it created and that stayed empty.

    Its name holds this process's id: one left by a killed process is removed by the next
    `atomic_path`, `atomic_folder` or `scratch_folder` in `parent` (`remove_abandoned`).
    """
    parent = Path(parent).expanduser()
    created = [folder for folder in (parent, *parent.parents) if not folder.exists()]
    parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned(parent)
    scratch = Path(tempfile.mkdtemp(**_temp_name(parent, name)))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        for folder in created:  # deepest first
            with contextlib.suppress(OSError):  # not empty: something was written there
                folder.rmdir()


def remove_abandoned(folder: Path) -> None:
    """Remove the temp files and folders in `folder` whose writing process is gone (killed
    mid-write). Those of running processes, this one included, are kept."""
    for entry in folder.iterdir():
        match = _TEMP_NAME.match(entry.name)
        if match is None or _running(int(match.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


_TEMP_NAME = re.compile(r"^\..+\.pid(\d+)-[a-z0-9_]+\.tmp$")  # _temp_name's, and mkdtemp's


def _temp_name(parent: Path, name: str) -> dict[str, str]:
    """mkstemp/mkdtemp arguments for a hidden `.NAME.pidPID-RANDOM.tmp` in `parent`."""
    return {"dir": str(parent), "prefix": f".{name}.pid{os.getpid()}-", "suffix": ".tmp"}


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


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
