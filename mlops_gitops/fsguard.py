"""Every file the tool writes or deletes goes through here, inside a root it trusts.

Whoever wrote the repository decides what its paths are: a committed symlink at
`reports/d/charts` or `alerts/<date>.md` must not turn a chart or an alert into a write
outside it. So a path is walked down from its root one directory at a time, each opened
relative to the last with O_NOFOLLOW (no symlink below the root, and none swapped in between
a check and a use), files are opened with O_NOFOLLOW, and a path that breaks the rule is an
`UnsafePath` error naming it, raised before anything is written.

The root itself (the repository, the artifact store, a cache folder, a folder named on the
command line) is the user's choice and may be reached through symlinks.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from mlops_gitops.errors import MlopsError

TEMP_SUFFIX = ".tmp"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC
_CHUNK = 1 << 20


class UnsafePath(MlopsError):
    """A write or delete that would leave its root or go through a symlink."""


def _split(root: Path | str, path: Path | str) -> tuple[str, list[str]]:
    """The root as a string and the components of `path` below it. Both are taken as the
    operating system would (a relative one from the working directory), with `..` resolved
    by name: a path that leaves the root that way is refused like any other."""
    top = os.path.abspath(root)
    full = os.path.abspath(path)
    for base in dict.fromkeys((top, os.path.realpath(top))):
        if full == base:
            return base, []
        prefix = base.rstrip(os.sep) + os.sep
        if full.startswith(prefix):
            return base, full[len(prefix) :].split(os.sep)
    raise UnsafePath(f"refusing to write {path}: it is outside {root}")


def _refuse(fd: int, name: str, shown: str, where: str) -> UnsafePath:
    """Why `name` in the directory `fd` cannot be walked or written through."""
    try:
        info = os.lstat(name, dir_fd=fd)
    except OSError:
        return UnsafePath(f"refusing to write {shown}: {where} changed while it was written")
    if stat.S_ISLNK(info.st_mode):
        try:
            target = os.readlink(name, dir_fd=fd)
        except OSError:
            target = "?"
        return UnsafePath(
            f"refusing to write {shown}: {where} is a symbolic link (to {target}); "
            "mlops-gitops never writes or deletes through symlinks",
            hint=f"remove the link {where} (it may have been committed to redirect the tool)",
        )
    kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
    return UnsafePath(f"refusing to write {shown}: {where} is {kind}")


def _walk(base: str, parts: list[str], shown: str, create: bool) -> int | None:
    """A descriptor of the directory `base/parts`, or None when it is missing (and not
    `create`). Every component below `base` must be a real directory."""
    if create:
        os.makedirs(base, exist_ok=True)
    try:
        fd = os.open(base, _DIR)
    except FileNotFoundError:
        return None
    try:
        for index, name in enumerate(parts):
            if name in ("", ".", ".."):
                raise UnsafePath(f"refusing to write {shown}: {name!r} in the path")
            try:
                inner = os.open(name, _DIR | _NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    os.close(fd)
                    return None
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o777, dir_fd=fd)
                inner = _open_inner(fd, name, shown, parts[: index + 1])
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise _refuse(fd, name, shown, "/".join(parts[: index + 1])) from None
                raise
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_inner(fd: int, name: str, shown: str, parts: list[str]) -> int:
    try:
        return os.open(name, _DIR | _NOFOLLOW, dir_fd=fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            raise _refuse(fd, name, shown, "/".join(parts)) from None
        raise


def _parent(root: Path | str, path: Path | str, create: bool) -> tuple[int | None, str, str, str]:
    """(descriptor of the parent folder or None, file name, path as shown in errors, path
    below the root)."""
    base, parts = _split(root, path)
    shown = str(path)
    if not parts:
        raise UnsafePath(f"refusing to write {shown}: it is the root folder itself")
    name = parts[-1]
    if name in ("", ".", ".."):
        raise UnsafePath(f"refusing to write {shown}: {name!r} in the path")
    return _walk(base, parts[:-1], shown, create), name, shown, "/".join(parts)


def _check_target(fd: int, name: str, shown: str, rel: str) -> bool:
    """Whether `name` exists; a symlink or anything but a regular file there is refused."""
    try:
        info = os.lstat(name, dir_fd=fd)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(fd, name, shown, rel)
    return True


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view[:_CHUNK]) :]


def _folder(root: Path | str, folder: Path | str, create: bool) -> int | None:
    base, parts = _split(root, folder)
    return _walk(base, parts, str(folder), create)


def _temp(fd: int, prefix: str) -> tuple[int, str]:
    """A new file `<prefix><random>.tmp` in the folder `fd`: (descriptor, name)."""
    name = f"{prefix}{os.urandom(6).hex()}{TEMP_SUFFIX}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
    return os.open(name, flags, 0o644, dir_fd=fd), name


class Staged:
    """A new temp file in a folder; `keep` renames it into place, else it is removed."""

    def __init__(self, root: Path | str, fd: int, name: str, handle: BinaryIO) -> None:
        self.root = root
        self._dir = fd
        self.name = name
        self.handle = handle
        self.kept = False

    def keep(self, path: Path | str, mode: int | None = None, replace: bool = True) -> bool:
        """Sync and rename the file to `path` (under the same root); False when `path`
        exists and `replace` is off (the temp file is then dropped)."""
        self.handle.flush()
        if mode is not None:
            os.fchmod(self.handle.fileno(), mode)
        os.fsync(self.handle.fileno())
        parent, name, shown, rel = _parent(self.root, path, create=True)
        assert parent is not None
        try:
            if _check_target(parent, name, shown, rel) and not replace:
                return False
            os.rename(self.name, name, src_dir_fd=self._dir, dst_dir_fd=parent)
            self.kept = True
            os.fsync(parent)
        finally:
            os.close(parent)
        return True


@contextlib.contextmanager
def staged(root: Path | str, folder: Path | str, prefix: str) -> Iterator[Staged]:
    """A temp file `folder/<prefix><random>.tmp` to fill and then `keep`."""
    fd = _folder(root, folder, create=True)
    assert fd is not None
    try:
        file_fd, name = _temp(fd, prefix)
        with os.fdopen(file_fd, "wb") as handle:
            temp = Staged(root, fd, name, handle)
            try:
                yield temp
            finally:
                if not temp.kept:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(name, dir_fd=fd)
    finally:
        os.close(fd)


def write(root: Path | str, path: Path | str, data: bytes, mode: int | None = None) -> None:
    """Atomically: a temp file beside `path`, fsync, rename, fsync the folder.

    A crash leaves either the old file or the new one, never a torn one.
    """
    fd, name, shown, rel = _parent(root, path, create=True)
    assert fd is not None
    try:
        _check_target(fd, name, shown, rel)  # refused before anything is written
        file_fd, temp = _temp(fd, f".{name}.")
        try:
            try:
                _write_all(file_fd, data)
                if mode is not None:
                    os.fchmod(file_fd, mode)
                os.fsync(file_fd)
            finally:
                os.close(file_fd)
            os.rename(temp, name, src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp, dir_fd=fd)
            raise
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(root: Path | str, path: Path | str, data: bytes) -> bool:
    """Create `path` with `data` only if nothing is there (False otherwise), synced."""
    fd, name, shown, rel = _parent(root, path, create=True)
    assert fd is not None
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
        try:
            file_fd = os.open(name, flags, 0o644, dir_fd=fd)
        except FileExistsError:
            _check_target(fd, name, shown, rel)
            return False
        try:
            _write_all(file_fd, data)
            os.fsync(file_fd)
        finally:
            os.close(file_fd)
        os.fsync(fd)
        return True
    finally:
        os.close(fd)


def open_append(root: Path | str, path: Path | str) -> BinaryIO:
    """`path` opened for appending (created if missing); a regular file, never a link."""
    fd, name, shown, rel = _parent(root, path, create=True)
    assert fd is not None
    try:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _CLOEXEC | os.O_NONBLOCK
        try:
            file_fd = os.open(name, flags, 0o644, dir_fd=fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR, errno.EMLINK):
                raise _refuse(fd, name, shown, rel) from None
            raise
        if not stat.S_ISREG(os.fstat(file_fd).st_mode):
            os.close(file_fd)
            raise _refuse(fd, name, shown, rel)
        os.set_blocking(file_fd, True)
        return os.fdopen(file_fd, "ab")
    finally:
        os.close(fd)


def append(root: Path | str, path: Path | str, data: bytes, header: bytes = b"") -> None:
    """Append `data` (after `header` when the file is new or empty) and sync."""
    with open_append(root, path) as handle:
        if header and os.fstat(handle.fileno()).st_size == 0:
            data = header + data
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def remove(root: Path | str, path: Path | str) -> bool:
    """Delete the file `path` (a symlink there is removed, never followed); False if missing."""
    fd, name, shown, rel = _parent(root, path, create=False)
    if fd is None:
        return False
    try:
        try:
            info = os.lstat(name, dir_fd=fd)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(info.st_mode):
            raise _refuse(fd, name, shown, rel)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=fd)
        return True
    finally:
        os.close(fd)


def make_dirs(root: Path | str, path: Path | str) -> None:
    fd = _folder(root, path, create=True)
    if fd is not None:
        os.close(fd)


def check_folder(root: Path | str, folder: Path | str) -> None:
    """Fail now if writing into `folder` would be refused (it need not exist yet)."""
    fd = _folder(root, folder, create=False)
    if fd is not None:
        os.close(fd)


def listdir(root: Path | str, folder: Path | str) -> list[str]:
    """The names in `folder`, sorted; [] when it is missing."""
    fd = _folder(root, folder, create=False)
    if fd is None:
        return []
    try:
        return sorted(os.listdir(fd))
    finally:
        os.close(fd)


def rename(root: Path | str, source: Path | str, target: Path | str) -> None:
    """Move a file within `root`; the target must not be a symlink or a folder."""
    src_fd, src_name, src_shown, src_rel = _parent(root, source, create=False)
    if src_fd is None:
        raise FileNotFoundError(errno.ENOENT, "no such file", str(source))
    try:
        if not _check_target(src_fd, src_name, src_shown, src_rel):
            raise FileNotFoundError(errno.ENOENT, "no such file", str(source))
        dst_fd, dst_name, dst_shown, dst_rel = _parent(root, target, create=True)
        assert dst_fd is not None
        try:
            _check_target(dst_fd, dst_name, dst_shown, dst_rel)
            os.rename(src_name, dst_name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)


def sweep_temp_files(
    root: Path | str,
    folder: Path | str,
    prefix: str = ".",
    suffix: str = TEMP_SUFFIX,
    idle_seconds: float = 0.0,
) -> list[str]:
    """Remove temp files a killed writer left in `folder`; call it under the apply lock.

    Left alone they would be committed with the state folder, or pile up in the store.
    `idle_seconds` spares files written to recently (a store may be shared by repositories).
    Returns the names removed.
    """
    fd = _folder(root, folder, create=False)
    if fd is None:
        return []
    removed = []
    cutoff = time.time() - idle_seconds
    try:
        for name in sorted(os.listdir(fd)):
            if not (name.startswith(prefix) and name.endswith(suffix)):
                continue
            try:
                info = os.lstat(name, dir_fd=fd)
                if not stat.S_ISREG(info.st_mode) or info.st_mtime > cutoff:
                    continue
                os.unlink(name, dir_fd=fd)
            except FileNotFoundError:
                continue
            removed.append(name)
    finally:
        os.close(fd)
    return removed
