"""A past commit's files, read from git objects into a private folder: `--at REV`.

The work tree is never touched (no checkout) and the files are then loaded exactly as the
work tree's would be, with the same size and depth budgets and validation. Whoever wrote the
commit is an attacker like any spec author: only regular blobs are written, symlink blobs are
skipped (never followed), paths that could leave the folder are refused, and the number and
size of files are bounded.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from mlops_gitops import fsguard, git
from mlops_gitops.errors import MlopsError

MAX_ENTRIES = 100_000
MAX_FILE_BYTES = 256 << 20
MAX_TOTAL_BYTES = 2 << 30
_FILE_MODES = {"100644": 0o644, "100755": 0o755}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?)?(Z|[+-]\d{2}:?\d{2})?$")


_ACTIVE: set[str] = set()
"""Folders of snapshots in use: caches keyed by folder would only pile up for them."""


def is_snapshot(root: Path) -> bool:
    return str(Path(root).resolve()) in _ACTIVE


@dataclass
class Snapshot:
    root: Path
    commit: str
    skipped: list[str] = field(default_factory=list)
    """Entries not written: symlinks (not followed) and submodules."""


def resolve(root: Path, rev: str) -> str:
    """The commit `rev` names; a date or time (`2026-11-03`) names the last commit of HEAD's
    first-parent line made at or before it."""
    sha = git.resolve(root, rev)
    if sha is None and _DATE.match(rev.strip()):
        when = rev.strip()
        sha = git.commit_before(root, when + ("T23:59:59" if len(when) == 10 else ""))
    if sha is None:
        raise MlopsError(
            f"--at {rev!r} names no commit of the repository at {root}",
            hint="give a commit, tag, branch, HEAD~N or a date such as 2026-11-03",
        )
    return sha


@contextmanager
def at(root: Path | str, rev: str) -> Iterator[Snapshot]:
    """The files of `root` (a folder of the work tree) as they were in commit `rev`, in a
    temporary folder removed afterwards."""
    base = Path(root).resolve()
    if not git.is_repo(base):
        raise MlopsError(f"--at needs a git repository; {base} is not in one")
    sha = resolve(base, rev)
    folder = Path(tempfile.mkdtemp(prefix="mlops-gitops-at-")).resolve()
    _ACTIVE.add(str(folder))
    try:
        snapshot = Snapshot(folder, sha)
        _extract(base, snapshot)
        yield snapshot
    finally:
        _ACTIVE.discard(str(folder))
        shutil.rmtree(folder, ignore_errors=True)


def _extract(base: Path, snapshot: Snapshot) -> None:
    entries = git.tree(base, snapshot.commit)
    if len(entries) > MAX_ENTRIES:
        raise MlopsError(
            f"commit {snapshot.commit[:12]} holds {len(entries)} files; --at reads at most "
            f"{MAX_ENTRIES}"
        )
    wanted: dict[str, list[tuple[str, int]]] = {}
    total = 0
    for entry in entries:
        mode = _FILE_MODES.get(entry.mode)
        if mode is None or entry.kind != "blob":
            snapshot.skipped.append(entry.path)
            continue
        _check_path(entry.path, snapshot.commit)
        size = entry.size or 0
        if size > MAX_FILE_BYTES:
            raise MlopsError(
                f"{entry.path} in commit {snapshot.commit[:12]} is {size} bytes; --at reads "
                f"files of at most {MAX_FILE_BYTES}"
            )
        total += size
        if total > MAX_TOTAL_BYTES:
            raise MlopsError(
                f"commit {snapshot.commit[:12]} holds more than {MAX_TOTAL_BYTES} bytes; "
                "--at reads no more"
            )
        wanted.setdefault(entry.oid, []).append((entry.path, mode))
    for oid, data in git.blobs(base, list(wanted)):
        for path, mode in wanted[oid]:
            fsguard.write(snapshot.root, snapshot.root / path, data, mode)


def _check_path(path: str, commit: str) -> None:
    """git itself refuses such paths on checkout; a crafted tree object may still hold them."""
    parts = path.split("/")
    if any(p in ("", ".", "..") or p.lower() == ".git" or "\\" in p for p in parts):
        raise MlopsError(f"commit {commit[:12]} holds an unsafe path {path!r}")
