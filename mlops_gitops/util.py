"""Small helpers shared by every layer."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

TEMP_SUFFIX = ".tmp"


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder, fsync, rename, fsync the folder.

    A crash leaves either the old file or the new one, never a torn one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def sweep_temp_files(
    folder: Path, prefix: str = ".", suffix: str = TEMP_SUFFIX, idle_seconds: float = 0.0
) -> list[Path]:
    """Remove temp files a killed writer left in `folder`; call it under the apply lock.

    Left alone they would be committed with the state folder, or pile up in the store.
    `idle_seconds` spares files written to recently (a store may be shared by repositories).
    """
    if not folder.is_dir():
        return []
    removed = []
    cutoff = time.time() - idle_seconds
    for path in sorted(folder.glob(f"{prefix}*{suffix}")):
        try:
            if path.is_symlink() or not path.is_file() or path.stat().st_mtime > cutoff:
                continue
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed
