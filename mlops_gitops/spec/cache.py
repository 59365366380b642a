"""Caches that spare unchanged inputs the work done on them by an earlier run.

Nothing in the work tree is trusted as a cache: a commit could carry it. The caches live in
the git directory (`$(git rev-parse --git-common-dir)/mlops-gitops/<project>/`, which no
commit can carry) or, outside git, in the user's cache directory
(`$XDG_CACHE_HOME/mlops-gitops/<project>/`); `<project>` is a key of the project's folder.
They hold JSON, never pickle, are rebuilt from scratch when missing, corrupt or written by
another version of the tool, and are written atomically, so concurrent runs at worst lose
each other's additions. A folder `.mlops/cache` in the work tree (where older versions kept
them, or a forgery) is never read: `stray_warning` says so.

- `ParseCache`: the plain data PyYAML made of a spec file's text, keyed by the sha256 of the
  file's bytes (and, for templates, of the values they were rendered with). A key names
  content, not a file, so an edited, added, deleted or renamed file can never be served stale
  data, and no clock is trusted. The data goes through the same typed validation as freshly
  parsed data; positions for error messages still come from the text.
- `HashCache`: the sha256 of artifacts, keyed by what `stat` says about the file (device,
  inode, size, modification and change times in nanoseconds), the way git's index trusts a
  file's stat data. Files changed too recently to tell apart from a later same-size edit
  within the file system's time granularity are not remembered ("racy" files).
- `DerivedCache`: values the tool computes from a spec file's typed objects (the digest of
  each model version the planner compares with recorded state), keyed by the file's content
  key and valid only for the exact code that computed them.

`MLOPS_GITOPS_NO_CACHE=1` turns them off.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_gitops import __version__, fsguard, git, snapshot
from mlops_gitops.errors import MlopsWarning
from mlops_gitops.safeio import dumps

STRAY_DIR = ".mlops/cache"
"""Where older versions kept caches inside the work tree: ignored now."""
TOOL_DIR = "mlops-gitops"
PARSE_FILE = "parse.json"
HASH_FILE = "artifact-hashes.json"
DISABLE_ENV = "MLOPS_GITOPS_NO_CACHE"
FORMAT = "2"
RACY_NS = 2_000_000_000
"""Files modified or changed less than this before they were read are not remembered."""
_PLAIN_SCALARS = (str, int, float, bool, type(None))


def enabled() -> bool:
    return os.environ.get(DISABLE_ENV, "") in ("", "0")


@dataclass(frozen=True)
class Place:
    """A project's cache folder and the folder above it that writes may not leave."""

    top: Path
    folder: Path

    def file(self, name: str) -> Path:
        return self.folder / name


def user_cache_home() -> Path | None:
    """`$XDG_CACHE_HOME`, else `~/.cache`; None without a usable home."""
    configured = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(configured):
        return Path(configured)
    try:
        return Path.home() / ".cache"
    except (RuntimeError, KeyError):
        return None


def place(root: Path) -> Place | None:
    """Where the caches of the project in `root` live (see the module docstring); none for a
    past commit's files (`--at`), read once."""
    if snapshot.is_snapshot(root):
        return None
    top = git.common_dir(root)
    if top is None:
        top = user_cache_home()
        if top is None:
            return None
    key = hashlib.sha256(os.fsencode(os.path.realpath(root))).hexdigest()[:16]
    return Place(top, top / TOOL_DIR / key)


def stray_warning(root: Path) -> None:
    """Warn (once per message, as the application shows warnings) about `.mlops/cache`."""
    if os.path.lexists(root / STRAY_DIR):
        warnings.warn(
            MlopsWarning(
                f"ignoring {STRAY_DIR}/ in the work tree: caches are never read from the "
                "repository (they live in the git directory); delete the folder "
                f"(rm -rf {STRAY_DIR}), and if it is committed, remove it from git"
            ),
            stacklevel=2,
        )


def _fingerprint(*extra: str, sources: tuple[Path, ...] = ()) -> str:
    """The tool that wrote a cache: a cache from any other build is ignored."""
    digest = hashlib.sha256()
    for part in (__version__, sys.version, *extra):
        digest.update(part.encode() + b"\0")
    here = Path(__file__).parent
    rendering = ("templates.py", "sandbox.py", "meter.py")
    for path in (
        here / "cache.py",
        here / "yamlsource.py",
        *(here / n for n in rendering),
        *sources,
    ):
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"missing " + str(path).encode())
    return digest.hexdigest()


def _read(where: Place, name: str, fingerprint: str) -> Any:
    """The body of a cache file, or None when it is missing, corrupt or foreign."""
    try:
        raw = where.file(name).read_bytes()
        head, _, body = raw.partition(b"\n")
        header = json.loads(head)
        if (
            not isinstance(header, dict)
            or header.get("format") != FORMAT
            or header.get("tool") != fingerprint
            or header.get("sha256") != hashlib.sha256(body).hexdigest()
        ):
            return None
        return json.loads(body)
    except (OSError, ValueError, RecursionError):
        return None


def _write(where: Place, name: str, fingerprint: str, body: Any) -> None:
    """Atomically; a cache that cannot be written (read-only checkout) is simply not kept."""
    try:
        data = dumps(body, separators=(",", ":")).encode()  # ASCII: lone surrogates too
        header = {"format": FORMAT, "tool": fingerprint, "sha256": hashlib.sha256(data).hexdigest()}
        fsguard.write(where.top, where.file(name), dumps(header).encode() + b"\n" + data)
    except (OSError, ValueError, RecursionError, fsguard.UnsafePath):
        pass


def is_plain(value: Any) -> bool:
    """Whether JSON gives back exactly this value: no dates, bytes, sets or tuples."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            for key, inner in item.items():
                if type(key) is not str:
                    return False
                stack.append(inner)
        elif kind is list:
            stack.extend(item)
        elif kind not in _PLAIN_SCALARS:
            return False
    return True


def content_key(sha256: str, template_values: str | None = None) -> str:
    """A file's cache key: its bytes, and for a template the values it is rendered with."""
    if template_values is None:
        return sha256
    return hashlib.sha256(f"{sha256}\0{template_values}".encode()).hexdigest()


def values_key(values: dict[str, Any]) -> str:
    """Template values as a key: repr keeps types and order (a date is not its string)."""
    import jinja2

    return hashlib.sha256(f"{jinja2.__version__}\0{values!r}".encode()).hexdigest()


class ParseCache:
    """Content key -> (parsed data, rendered text for templates)."""

    def __init__(self, where: Place | None) -> None:
        self.where = where
        """None: nothing is read or written (the cache is off)."""
        self.fingerprint = ""
        if where is not None:
            import yaml  # what parses the files is part of what wrote the cache

            self.fingerprint = _fingerprint(yaml.__version__, str(yaml.__with_libyaml__))
        self.stored: dict[str, Any] = {}
        self.entries: dict[str, tuple[Any, str | None]] = {}
        """Served or parsed during this run; only plain values are kept for the next one."""
        self.reused: set[str] = set()
        self.used: set[str] = set()
        self.pending: Callable[[ParseCache], None] | None = None
        """Something that will add entries (a helper process), asked on a miss of one of the
        `awaited` keys."""
        self.awaited: set[str] = set()

    @classmethod
    def open(cls, root: Path) -> ParseCache:
        stray_warning(root)
        where = place(root) if enabled() else None
        if where is None:
            return cls(None)
        cache = cls(where)
        body = _read(where, PARSE_FILE, cache.fingerprint)
        if isinstance(body, dict):
            cache.stored = body
        return cache

    def get(self, key: str) -> tuple[Any, str | None] | None:
        """(data, rendered text or None) parsed from the content with this key, if known.

        The data is shared by files with the same content: nobody may change it.
        """
        found = self._lookup(key)
        if found is None and self.pending is not None and key in self.awaited:
            pending, self.pending = self.pending, None
            pending(self)
            found = self._lookup(key)
        if found is not None:
            self.used.add(key)
        return found

    def _lookup(self, key: str) -> tuple[Any, str | None] | None:
        found = self.entries.get(key)
        if found is not None:
            return found
        entry = self.stored.get(key)
        if not (isinstance(entry, list) and len(entry) == 2):
            return None
        if entry[1] is not None and not isinstance(entry[1], str):
            return None
        found = self.entries[key] = (entry[0], entry[1])
        self.reused.add(key)
        return found

    def known(self, key: str) -> bool:
        return self._lookup(key) is not None

    def put(self, key: str, data: Any, text: str | None, used: bool = True) -> None:
        """What parsing the content with this key gave; `used`: by a file of this run."""
        self.entries[key] = (data, text)
        self.reused.discard(key)
        if used:
            self.used.add(key)

    def save(self) -> None:
        """Keep the entries of this run's files; write only when that changes the file."""
        if self.where is None:
            return
        keep = {
            key: [data, text]
            for key, (data, text) in self.entries.items()
            if key in self.used and (key in self.reused or is_plain(data))
        }
        if keep.keys() == self.stored.keys() and self.reused >= keep.keys():
            return
        _write(self.where, PARSE_FILE, self.fingerprint, keep)


class HashCache:
    """(path, stat) -> sha256 of an artifact, for files that are not racily new."""

    def __init__(self, where: Place | None) -> None:
        self.where = where
        self.fingerprint = _fingerprint("hashes") if where is not None else ""
        self.entries: dict[str, Any] = {}
        self.seen: dict[str, Any] = {}
        self.changed = False

    @classmethod
    def open(cls, root: Path) -> HashCache:
        where = place(root) if enabled() else None
        if where is None:
            return cls(None)
        cache = cls(where)
        body = _read(where, HASH_FILE, cache.fingerprint)
        if isinstance(body, dict):
            cache.entries = body
        return cache

    @staticmethod
    def _stamp(stat: os.stat_result) -> list[int]:
        return [stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]

    def get(self, path: str, stat: os.stat_result) -> str | None:
        entry = self.entries.get(path)
        if (
            isinstance(entry, list)
            and len(entry) == 2
            and entry[0] == self._stamp(stat)
            and isinstance(entry[1], str)
        ):
            self.seen[path] = entry
            return entry[1]
        return None

    def put(self, path: str, stat: os.stat_result, sha256: str, started_ns: int) -> None:
        """`started_ns`: the wall clock before the file was read; racy files are skipped."""
        if max(stat.st_mtime_ns, stat.st_ctime_ns) >= started_ns - RACY_NS:
            return
        self.seen[path] = [self._stamp(stat), sha256]
        self.changed = True

    def save(self) -> None:
        """Keep entries for the files asked about in this run."""
        if self.where is None:
            return
        if not self.changed and self.seen.keys() == self.entries.keys():
            return
        _write(self.where, HASH_FILE, self.fingerprint, dict(sorted(self.seen.items())))


def now_ns() -> int:
    return time.time_ns()


class DerivedCache:
    """Content key -> a value computed from the typed objects of the file with that content.

    `sources`: the modules whose code decides the value (with the tool, Python and pydantic
    versions they make the fingerprint), so a changed rule never meets an old answer.
    """

    def __init__(self, where: Place | None, name: str, sources: tuple[Path, ...] = ()) -> None:
        self.where = where
        self.name = name
        self.fingerprint = ""
        if where is not None:
            import pydantic
            import pydantic_core

            self.fingerprint = _fingerprint(
                name, pydantic.VERSION, pydantic_core.__version__, sources=sources
            )
        self.stored: dict[str, Any] = {}
        self.kept: dict[str, Any] = {}
        self.changed = False

    @classmethod
    def open(cls, root: Path, name: str, sources: tuple[Path, ...] = ()) -> DerivedCache:
        where = place(root) if enabled() else None
        if where is None:
            return cls(None, name)
        cache = cls(where, name, sources)
        body = _read(where, name, cache.fingerprint)
        if isinstance(body, dict):
            cache.stored = body
        return cache

    def get(self, key: str) -> Any:
        value = self.stored.get(key)
        if value is not None:
            self.kept[key] = value
        return value

    def put(self, key: str, value: Any) -> None:
        if self.kept.get(key) != value:
            self.kept[key] = value
            self.changed = True

    def save(self) -> None:
        """Keep the values asked for or given in this run; write only when that changes."""
        if self.where is None or (not self.changed and self.kept.keys() == self.stored.keys()):
            return
        _write(self.where, self.name, self.fingerprint, dict(sorted(self.kept.items())))
