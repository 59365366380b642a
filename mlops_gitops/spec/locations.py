"""Where repository content may make the tool read: artifact, data and log locations.

A location is a path inside the repository or a URI. Specs come from pull requests, so a URI
could point the tool at the runner's own files (`file:///proc/self/environ`) or at internal
ports (`ftp://127.0.0.1:22`). Only object stores and https are accepted by default; plain
http and local files need the Project's `security` opt-ins. The same rules run at `validate`
and again when a location is opened.
"""

from __future__ import annotations

import functools
import io
import ipaddress
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

from mlops_gitops.errors import MlopsError

if TYPE_CHECKING:
    from mlops_gitops.spec.models import SecuritySettings

REMOTE_SCHEMES = frozenset({"s3", "gs", "gcs", "az", "abfs", "https"})
"""Accepted without any opt-in."""
ACCEPTED_SCHEMES = REMOTE_SCHEMES | {"http", "file"}
"""Accepted at all; http and file only with the Project's opt-ins."""
ALWAYS_REFUSED_NETWORKS = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("fd00:ec2::254/128"),
)
"""Link-local and cloud metadata addresses: no setting opens them."""

_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_UNUSUAL = re.compile(r"[:*?\[\\]|^/")
"""What makes a location more than a plain relative path: a scheme or drive, a glob, a
backslash, a leading slash."""
_DRIVE_RE = re.compile(r"^[A-Za-z]:[\\/]")


def scheme(location: str) -> str | None:
    """The URI scheme, lower case; None for a plain path (a drive letter is no scheme)."""
    if _DRIVE_RE.match(location):
        return None
    match = _SCHEME_RE.match(location)
    return match.group(1).lower() if match else None


def is_remote(location: str) -> bool:
    """Read through fsspec rather than from the local disk."""
    found = scheme(location)
    return found is not None and found != "file"


def problem(location: str, security: SecuritySettings | None) -> str | None:
    """Why the tool must not read `location`, or None when it may."""
    if ":" not in location:
        return None  # no scheme and no chained URL: a repository path (the usual case)
    local = bool(security and security.allow_local_uris)
    http = bool(security and security.allow_insecure_http)
    return _problem(location, local, http)


@functools.lru_cache(maxsize=4096)
def _problem(location: str, allow_local_uris: bool, allow_insecure_http: bool) -> str | None:
    """`problem`, remembered: thousands of versions may name the same few locations."""
    security = _Opt(allow_local_uris, allow_insecure_http)
    if "::" in re.sub(r"\[[^\]/]*\]?", "", location):  # not inside an IPv6 address
        return f"{location!r}: chained URLs (::) are not accepted"
    found = scheme(location)
    if found is None:
        return None  # a repository path: its lexical checks run where it is parsed
    if found == "file":
        return _file_problem(location, security)
    if found == "http" and not security.allow_insecure_http:
        return (
            f"{location!r}: plain http is not accepted; use https, or set"
            " security.allow_insecure_http: true in mlops.yaml"
        )
    if found not in REMOTE_SCHEMES and found != "http":
        allowed = ", ".join(sorted(REMOTE_SCHEMES))
        return (
            f"{location!r}: the scheme {found}: is not accepted; use a path inside the"
            f" repository or one of {allowed} (http and file need opt-ins in mlops.yaml)"
        )
    if not location[len(found) + 1 :].startswith("//"):
        return f"{location!r}: write {found} URIs as {found}://host/path"
    if found in ("http", "https"):
        return _host_problem(location, security)
    return None


class _Opt(NamedTuple):
    allow_local_uris: bool
    allow_insecure_http: bool


def _file_problem(location: str, security: _Opt) -> str | None:
    if not security.allow_local_uris:
        return (
            f"{location!r}: file URIs read outside the repository and are not accepted; use"
            " a path inside the repository, or set security.allow_local_uris: true in mlops.yaml"
        )
    parts = urlsplit(location)
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        return f"{location!r}: a file URI is file:///absolute/path"
    return None


def _host_problem(location: str, security: _Opt) -> str | None:
    try:
        parts = urlsplit(location)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        return f"{location!r} is not a valid URL: {exc}"
    if not host:
        return f"{location!r} names no host"
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address("127.0.0.1")
    else:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None  # a DNS name
    if any(address in network for network in ALWAYS_REFUSED_NETWORKS):
        return f"{location!r}: link-local and metadata addresses are never accepted"
    if not address.is_global and not security.allow_local_uris:
        return (
            f"{location!r} names a loopback or private address; set"
            " security.allow_local_uris: true in mlops.yaml if that is intended"
        )
    return None


def check(location: str, security: SecuritySettings | None) -> None:
    """`problem` as an error, for the places that open a location."""
    found = problem(location, security)
    if found is not None:
        raise MlopsError(f"refusing to read {found}")


def local_path(location: str, repo_root: Path, security: SecuritySettings | None) -> Path:
    """The file a local location names, checked: a repository path may not leave the
    repository (through `..` or a symlink); a file:// URI needs the opt-in."""
    check(location, security)
    if scheme(location) == "file":
        return Path(urlsplit(location).path)
    if location.startswith(("/", "\\")) or _DRIVE_RE.match(location):
        raise MlopsError(f"{location!r} is an absolute path; use a path inside the repository")
    path = repo_root / location
    real, top = os.path.realpath(path), os.path.realpath(repo_root)
    if real != top and not real.startswith(top.rstrip(os.sep) + os.sep):
        raise MlopsError(
            f"{location} leads outside the repository ({real}); refusing to read it"
            " (name it with a file:// URI and security.allow_local_uris if that is intended)"
        )
    return path


def open_regular(path: Path | str) -> io.BufferedReader:
    """Open a file for reading only if it is a regular file: a FIFO or a device would block
    or never end. A symlink as the last component has been resolved by the caller."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    return open_regular_fd(os.open(path, flags), path)


def open_regular_fd(fd: int, path: Path | str = "the file") -> io.BufferedReader:
    """`open_regular` for a descriptor opened by the caller (closed on failure)."""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise MlopsError(f"{path} is not a regular file; refusing to read it")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return io.open(fd, "rb")  # noqa: UP020 - typed as a buffered reader
    except BaseException:
        os.close(fd)
        raise


def open_local(
    location: str, repo_root: Path, security: SecuritySettings | None
) -> io.BufferedReader:
    """`local_path` opened with `open_regular`, the final path being the resolved one."""
    path = local_path(location, repo_root, security)
    return open_regular(os.path.realpath(path))


def is_inside(path: Path | str, repo_root: Path) -> bool:
    """Whether the real location of `path` is inside the repository."""
    real, top = os.path.realpath(path), os.path.realpath(repo_root)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


class Inside:
    """Whether paths stay inside the repository once symlinks are followed, for many paths:
    one `lstat` per file and per directory, instead of one per path component each time."""

    def __init__(self, root: Path) -> None:
        self.top = os.path.realpath(root)
        self.prefix = self.top.rstrip(os.sep) + os.sep
        self.root = str(root)
        self.base = os.path.join(self.root, "")
        self.dirs: dict[str, str] = {self.root: self.top}
        """Directory as spelled -> its real path."""
        self.answers: dict[str, str | None] = {}
        """Location -> `escapes`: many versions may name one file."""

    def escapes(self, location: str) -> str | None:
        """The real path of a repository location that leads outside, else None (also when
        the file does not exist: that is reported where it is read)."""
        if location in self.answers:
            return self.answers[location]
        answer = self.answers[location] = self._escapes(location)
        return answer

    def _escapes(self, location: str) -> str | None:
        if os.sep == "/" and not _UNUSUAL.search(location):
            parts = location.split("/")
            if "" not in parts and "." not in parts and ".." not in parts:
                # A plain relative path (no scheme, glob or backslash): the usual case,
                # thousands of times in a large repository.
                return self._outside(self._real(self.base + location))
        if scheme(location) is not None:
            return None
        parts = re.split(r"[\\/]", location)
        fixed = next((i for i, part in enumerate(parts) if any(c in part for c in "*?[")), None)
        if fixed is not None:  # a glob: its fixed leading folders
            location = "/".join(parts[:fixed]) or "."
        full = os.path.join(self.root, location)
        plain = all(part not in ("", ".", "..") for part in re.split(r"[\\/]", location))
        real = self._real(full) if plain and os.sep == "/" else os.path.realpath(full)
        return self._outside(real)

    def _outside(self, real: str) -> str | None:
        if real == self.top or real.startswith(self.prefix):
            return None
        return real

    def _real(self, path: str) -> str:
        try:
            link = stat.S_ISLNK(os.lstat(path).st_mode)
        except OSError:
            link = False
        parent, _, name = path.rpartition(os.sep)
        if link or not parent or path == self.root:
            return os.path.realpath(path)
        real_parent = self.dirs.get(parent)
        if real_parent is None:
            real_parent = self.dirs[parent] = self._real(parent)
        return real_parent.rstrip(os.sep) + os.sep + name
