"""Finding the spec files under the spec folders and reading them without trusting them.

Symlinks may not lead outside the repository, FIFOs and devices are not read, sizes are capped.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

from mlops_gitops.errors import Problem
from mlops_gitops.safeio import TooLarge, read_all, read_regular
from mlops_gitops.spec.repository import Prefetched, Repository, mark_broken

PROJECT_FILE = "mlops.yaml"


MAX_FILE_BYTES = 1024 * 1024
"""Spec files are small; anything bigger is a mistake or an attack."""


SPEC_SUFFIXES = (".yaml", ".yml", ".yaml.j2", ".yml.j2")


def relative(repo: Repository, path: Path) -> str:
    text = str(path)
    base = str(repo.root)
    if text.startswith(base + os.sep):
        return text[len(base) + 1 :].replace(os.sep, "/")
    return path.relative_to(repo.root).as_posix()


def inside(root: Path, path: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def spec_files(repo: Repository, spec_dirs: list[str]) -> list[tuple[str, str]]:
    """Spec files under the spec folders (path, relative path), sorted by relative path;
    symlinks may not leave the repository."""
    found: dict[str, str] = {}
    visited: set[Path] = set()
    for folder in spec_dirs:
        top = repo.root / folder
        if not top.exists():
            continue
        real_top = top.resolve()
        if not inside(repo.root, real_top):
            repo.problems.append(
                Problem(f"spec folder {folder!r} leads outside the repository", path=PROJECT_FILE)
            )
            continue
        for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
            here = Path(dirpath)
            real = here.resolve()
            if real in visited or not inside(repo.root, real):
                if not inside(repo.root, real):
                    repo.problems.append(
                        Problem(
                            f"symlinked folder points outside the repository ({real})",
                            path=relative(repo, here),
                        )
                    )
                dirnames[:] = []
                continue
            visited.add(real)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            prefix = relative(repo, here)
            prefix = "" if prefix == "." else prefix + "/"
            for name in filenames:
                if name.startswith(".") or not name.endswith(SPEC_SUFFIXES):
                    continue
                rel = prefix + name
                if rel not in found:
                    found[rel] = os.path.join(dirpath, name)
    return [(found[rel], rel) for rel in sorted(found)]


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


_BINARY = getattr(os, "O_BINARY", 0)


_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
"""A FIFO must not block the prefetch: it is not a regular file, `read_text` handles it."""


def prefetch(path: str) -> Prefetched | None:
    """The bytes of a plain file of acceptable size; anything unusual is left to `read_text`."""
    if not _NOFOLLOW:
        return None  # symlinks must be checked first: `read_text` does
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _BINARY)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
            return None
        data = read_all(fd, info.st_size, MAX_FILE_BYTES)
    except (OSError, TooLarge):
        return None
    finally:
        os.close(fd)
    return data, hashlib.sha256(data).hexdigest()


def read_text(
    repo: Repository, path: Path | str, rel: str, content: Prefetched | None = None
) -> str | None:
    if content is not None:
        data, repo.inputs[rel] = content
        return _decode(repo, data, rel)
    try:
        real = os.path.realpath(path, strict=True)
    except OSError as exc:
        why = "a symlink loop" if exc.errno == errno.ELOOP else exc.strerror
        repo.problems.append(Problem(f"cannot read file: {why}", path=rel))
        return None
    if not inside(repo.root, Path(real)):
        repo.problems.append(
            Problem(
                f"symlink points outside the repository ({real}); refusing to read it",
                path=rel,
            )
        )
        return None
    try:
        data = read_regular(real, MAX_FILE_BYTES)
    except TooLarge as exc:
        message = f"file is {exc.size} bytes; spec files may be at most {exc.limit} bytes"
        repo.problems.append(Problem(message, path=rel))
        return None
    except ValueError as exc:  # a FIFO, a device, a socket: reading could block forever
        repo.problems.append(Problem(f"cannot read file: it {exc}", path=rel))
        return None
    except OSError as exc:
        repo.problems.append(Problem(f"cannot read file: {exc.strerror}", path=rel))
        return None
    repo.inputs[rel] = hashlib.sha256(data).hexdigest()
    return _decode(repo, data, rel)


def _decode(repo: Repository, data: bytes, rel: str) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        mark_broken(repo, data.decode("utf-8", "replace"))
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        repo.problems.append(
            Problem(
                f"invalid UTF-8 (byte 0x{data[exc.start]:02x}); spec files must be UTF-8",
                path=rel,
                line=line,
                column=column,
            )
        )
        return None
