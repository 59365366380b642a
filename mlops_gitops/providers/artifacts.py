"""Content-addressed artifact store: `<store>/sha256/ab/cdef...`, local folder or fsspec URI.

Registering streams the file once, hashing and copying together, so large artifacts are
never read twice. Retiring only archives in state; `store gc` alone deletes blobs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mlops_gitops import fsguard, net
from mlops_gitops.errors import MlopsError
from mlops_gitops.spec import locations
from mlops_gitops.spec.models import SecuritySettings
from mlops_gitops.spec.types import is_uri
from mlops_gitops.urls import redact_url

CHUNK = 1024 * 1024
ARTIFACT_TIMEOUT_SECONDS = 600.0
"""The whole download of one http(s) artifact, headers and body, ends within this."""
INCOMING = ".incoming."
BLOB_RE = re.compile(r"^sha256/[0-9a-f]{2}/[0-9a-f]{62}$")


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
def open_source(
    location: str, repo_root: Path, security: SecuritySettings | None = None
) -> Iterator[IO[bytes]]:
    """Open an artifact named in a spec: a path inside the repository or an allowed URI
    (the rules of `spec.locations`, checked again here: validation may have been skipped).

    http(s) goes through `net` (deadline, no redirects, every resolved address checked;
    private ones only with security.allow_local_uris), never through fsspec's HTTP client.
    """
    locations.check(location, security)
    if location.lower().startswith(("http://", "https://")):
        allow_private = security is not None and security.allow_local_uris
        with net.open_stream(
            location, timeout=ARTIFACT_TIMEOUT_SECONDS, allow_private=allow_private
        ) as handle:
            yield handle
        return
    if locations.is_remote(location):
        try:
            import fsspec
        except ImportError:
            raise MlopsError(
                f"artifact {redact_url(location)} is a URI;"
                " install mlops-gitops[remote] (fsspec) to read it"
            ) from None
        with fsspec.open(location, "rb") as handle:
            yield handle
        return
    with locations.open_local(location, repo_root, security) as handle:
        yield handle


def local_artifact_path(
    location: str, repo_root: Path, security: SecuritySettings | None = None
) -> Path:
    """The file a local artifact location names; a repository path may not leave the
    repository through `..` or a symlink, a file:// URI needs `security.allow_local_uris`."""
    return locations.local_path(location, repo_root, security)


def hash_file(
    location: str, repo_root: Path, security: SecuritySettings | None = None
) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open_source(location, repo_root, security) as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def suffix(location: str) -> str:
    """The file extension of an artifact location, its query and fragment left out."""
    return Path(location.split("#", 1)[0].split("?", 1)[0]).suffix


class ArtifactStore:
    def __init__(
        self, location: str, repo_root: Path, security: SecuritySettings | None = None
    ) -> None:
        self.location = location
        self.security = security
        self.remote = is_uri(location) and not location.startswith("file://")
        if not self.remote:
            path = Path(location.removeprefix("file://"))
            self.root: Path = path if path.is_absolute() else repo_root / path
            self.top = self.root if path.is_absolute() else repo_root
            """No write below this folder goes through a symlink: the repository for a store
            inside it, else the store's own folder."""
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
            fsguard.sweep_temp_files(
                self.top, self.root, prefix=INCOMING, suffix="", idle_seconds=3600
            )

    def put(self, source: str) -> Stored:
        """Copy an artifact into the store while hashing it; idempotent for the same content."""
        if self.remote:
            return self._put_remote(source)
        digest = hashlib.sha256()
        size = 0
        with (
            fsguard.staged(self.top, self.root, INCOMING) as temp,
            open_source(source, self.repo_root, self.security) as handle,
        ):
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                temp.handle.write(chunk)
            sha = digest.hexdigest()
            temp.keep(self.root / blob_path(sha), mode=0o444, replace=False)
        return Stored(sha, size, blob_path(sha))

    def _put_remote(self, source: str) -> Stored:
        """Read the source once: hash it while spooling it to a local file, then upload that
        file unless the store holds the blob already. The spool is returned (`Stored.spooled`)
        so the security scan reads exactly the uploaded bytes; the caller deletes it."""
        digest = hashlib.sha256()
        size = 0
        fd, spool = tempfile.mkstemp(prefix=INCOMING)
        try:
            with (
                os.fdopen(fd, "wb") as out,
                open_source(source, self.repo_root, self.security) as handle,
            ):
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
        target = self.uri(_relative(relative))
        if self.remote:
            self._fs().copy(self.uri(blob), target)
            return target
        # Staged in the store's top folder, where `sweep` finds what an interrupted copy left.
        source = os.open(self.root / blob, os.O_RDONLY | os.O_NOFOLLOW)
        with (
            os.fdopen(source, "rb") as handle,
            fsguard.staged(self.top, self.root, INCOMING) as temp,
        ):
            while chunk := handle.read(CHUNK):
                temp.handle.write(chunk)
            temp.keep(self.root / relative)
        return target

    def write_text(self, relative: str, text: str) -> str:
        """Write a small file (a runtime's configuration) at `relative` in the store; its URI."""
        target = self.uri(_relative(relative))
        if self.remote:
            with self._fs().open(target, "wb") as out:
                out.write(text.encode())
            return target
        fsguard.write(self.top, self.root / relative, text.encode())
        return target

    # ---------------------------------------------------------------- upkeep

    def blobs(self) -> list[str]:
        """Every blob in the store, by name; anything else there (temp files, other folders)
        is not a blob and is never listed."""
        if self.remote:
            import fsspec

            fs, top = fsspec.core.url_to_fs(self.location)
            prefix = str(top).rstrip("/") + "/"  # as the filesystem names what it finds
            if not fs.exists(prefix + "sha256"):
                return []
            names = (str(p).removeprefix(prefix) for p in fs.find(prefix + "sha256"))
            return sorted(n for n in names if BLOB_RE.fullmatch(n))
        found = []
        for head in fsguard.listdir(self.top, self.root / "sha256"):
            for tail in fsguard.listdir(self.top, self.root / "sha256" / head):
                if BLOB_RE.fullmatch(name := f"sha256/{head}/{tail}"):
                    found.append(name)
        return found

    @contextlib.contextmanager
    def open_blob(self, blob: str) -> Iterator[IO[bytes]]:
        """A blob opened for reading; a symlink or a non-file in its place is an OSError."""
        if not BLOB_RE.fullmatch(blob):
            raise MlopsError(f"{blob!r} is not a blob name")
        if self.remote:
            with self._fs().open(self.uri(blob), "rb") as handle:
                yield handle
            return
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        with locations.open_regular_fd(os.open(self.root / blob, flags)) as handle:
            yield handle

    def digest(self, blob: str) -> str | None:
        """The sha256 of a blob's content; None when it is missing or unreadable."""
        try:
            with self.open_blob(blob) as handle:
                return hash_stream(handle)[0]
        except (OSError, MlopsError):
            return None

    def remove(self, blob: str) -> bool:
        if not BLOB_RE.fullmatch(blob):
            raise MlopsError(f"{blob!r} is not a blob name")
        if self.remote:
            fs = self._fs()
            if not fs.exists(self.uri(blob)):
                return False
            fs.rm(self.uri(blob))
            return True
        return fsguard.remove(self.top, self.root / blob)

    def put_verified(self, source: IO[bytes], sha256: str) -> bool:
        """Store `source`'s bytes as the blob of `sha256` if, and only if, they hash to it
        (replacing a corrupt blob); False, and nothing stored, when they do not."""
        blob = blob_path(sha256)
        if self.remote:
            with tempfile.TemporaryFile() as temp:
                digest = hashlib.sha256()
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    temp.write(chunk)
                if digest.hexdigest() != sha256:
                    return False
                temp.seek(0)
                with self._fs().open(self.uri(blob), "wb") as out:
                    while chunk := temp.read(CHUNK):
                        out.write(chunk)
            return True
        with fsguard.staged(self.top, self.root, INCOMING) as staged:
            digest = hashlib.sha256()
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                staged.handle.write(chunk)
            if digest.hexdigest() != sha256:
                return False
            staged.keep(self.root / blob, mode=0o444, replace=True)
        return True


def _relative(relative: str) -> str:
    """A layout path below the store's top: no empty, `.` or `..` parts, not absolute."""
    parts = relative.split("/")
    if relative.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise MlopsError(f"{relative!r} is not a path inside the artifact store")
    return relative


def hash_stream(handle: IO[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size
