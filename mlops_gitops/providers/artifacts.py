"""Content-addressed artifact store: `<store>/sha256/ab/cdef...`, local folder or fsspec URI.

Registering streams the file once, hashing and copying together, so large artifacts are
never read twice. Blobs are never deleted: retiring only archives in state.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mlops_gitops.errors import MlopsError
from mlops_gitops.spec.types import is_uri
from mlops_gitops.util import atomic_write, sweep_temp_files

CHUNK = 1024 * 1024
INCOMING = ".incoming."


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int
    blob: str
    """Relative location in the store: `sha256/ab/cdef...`."""
    spooled: Path | None = None
    """A remote store's put: a local temporary copy of the stored bytes (the caller deletes)."""


def blob_path(sha256: str) -> str:
    return f"sha256/{sha256[:2]}/{sha256[2:]}"


@contextlib.contextmanager
def open_source(location: str, repo_root: Path) -> Iterator[IO[bytes]]:
    """Open an artifact named in a spec: a path inside the repository or a URI."""
    if is_uri(location) and not location.startswith("file://"):
        try:
            import fsspec
        except ImportError:
            raise MlopsError(
                f"artifact {location} is a URI; install mlops-gitops[remote] (fsspec) to read it"
            ) from None
        with fsspec.open(location, "rb") as handle:
            yield handle
        return
    with open(local_artifact_path(location, repo_root), "rb") as handle:
        yield handle


def local_artifact_path(location: str, repo_root: Path) -> Path:
    """The file a local artifact location names; a repository path may not leave the
    repository through a symlink (an explicit file:// URI may point anywhere)."""
    path = Path(location.removeprefix("file://"))
    if path.is_absolute():
        return path
    path = repo_root / path
    real, top = path.resolve(), repo_root.resolve()
    if real != top and top not in real.parents:
        raise MlopsError(
            f"artifact {location} leads outside the repository ({real}); refusing to read it"
            " (name it with a file:// URI if that is intended)"
        )
    return path


def hash_file(location: str, repo_root: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open_source(location, repo_root) as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class ArtifactStore:
    def __init__(self, location: str, repo_root: Path) -> None:
        self.location = location
        self.remote = is_uri(location) and not location.startswith("file://")
        if not self.remote:
            path = Path(location.removeprefix("file://"))
            self.root: Path = path if path.is_absolute() else repo_root / path
        self.repo_root = repo_root

    def uri(self, blob: str) -> str:
        """As written in the Project (relative paths stay relative), so state is portable."""
        return f"{self.location.rstrip('/')}/{blob}"

    def local_path(self, blob: str) -> Path | None:
        return None if self.remote else self.root / blob

    def exists(self, blob: str) -> bool:
        if self.remote:
            return bool(self._fs().exists(self.uri(blob)))
        return (self.root / blob).exists()

    def _fs(self) -> Any:
        import fsspec

        fs, _ = fsspec.core.url_to_fs(self.location)
        return fs

    def sweep(self) -> None:
        """Drop partial copies an interrupted `put` left behind, idle for an hour (local only)."""
        if not self.remote:
            sweep_temp_files(self.root, prefix=INCOMING, suffix="", idle_seconds=3600)

    def put(self, source: str) -> Stored:
        """Copy an artifact into the store while hashing it; idempotent for the same content."""
        if self.remote:
            return self._put_remote(source)
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(prefix=INCOMING, dir=self.root)
        try:
            with os.fdopen(fd, "wb") as out, open_source(source, self.repo_root) as handle:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            target = self.root / blob_path(sha)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                os.unlink(tmp)
            else:
                os.chmod(tmp, 0o444)
                os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return Stored(sha, size, blob_path(sha))

    def _put_remote(self, source: str) -> Stored:
        """Read the source once: hash it while spooling it to a local file, then upload that
        file unless the store holds the blob already. The spool is returned (`Stored.spooled`)
        so the security scan reads exactly the uploaded bytes; the caller deletes it."""
        digest = hashlib.sha256()
        size = 0
        fd, spool = tempfile.mkstemp(prefix=INCOMING)
        try:
            with os.fdopen(fd, "wb") as out, open_source(source, self.repo_root) as handle:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            sha = digest.hexdigest()
            blob = blob_path(sha)
            fs = self._fs()
            target = self.uri(blob)
            if not fs.exists(target):
                fs.put_file(spool, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(spool)
            raise
        return Stored(sha, size, blob, Path(spool))

    def place(self, blob: str, relative: str) -> str:
        """Copy a stored blob to `relative` in the store (a runtime's layout); its URI.

        Remote stores copy server-side; the blob was hashed when it was stored, so nothing is
        read again. The copy is always made: a layout path names a model version, and only
        the blob it is copied from is trusted."""
        target = self.uri(relative)
        if self.remote:
            fs = self._fs()
            fs.copy(self.uri(blob), target)
            return target
        source, dest = self.root / blob, self._inside(relative)
        # In the store's top folder, where `sweep` finds what an interrupted copy left.
        fd, tmp = tempfile.mkstemp(prefix=INCOMING, dir=self.root)
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return target

    def write_text(self, relative: str, text: str) -> str:
        """Write a small file (a runtime's configuration) at `relative` in the store; its URI."""
        target = self.uri(relative)
        if self.remote:
            with self._fs().open(target, "wb") as out:
                out.write(text.encode())
            return target
        atomic_write(self._inside(relative), text.encode())
        return target

    def _inside(self, relative: str) -> Path:
        """A path in a local store, its folders made one by one; none may be a symlink (one
        could lead the write out of the store), nor the file itself."""
        self.root.mkdir(parents=True, exist_ok=True)
        folder = self.root
        parts = Path(relative).parts
        if not parts or any(part in ("", ".", "..") for part in parts):
            raise MlopsError(f"{relative!r} is not a path inside the artifact store")
        for part in parts[:-1]:
            folder = folder / part
            if folder.is_symlink():
                raise MlopsError(f"{folder} is a symlink; refusing to write through it")
            folder.mkdir(exist_ok=True)
        path = folder / parts[-1]
        if path.is_symlink():
            raise MlopsError(f"{path} is a symlink; refusing to write through it")
        return path
