"""`state restore`: bring back the recorded state from the last commit where it was intact.

The snapshot is read from git objects (no checkout), every file held to the budgets and
record types of the work tree's state, and its lineage and serial must be the ones the
history last recorded (`chain.last_recorded`): restoring can repair a loss, never roll back.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ValidationError

from mlops_gitops import fsguard, git
from mlops_gitops.errors import MlopsError
from mlops_gitops.safeio import loads
from mlops_gitops.spec.types import NAME_PATTERN
from mlops_gitops.state import lock
from mlops_gitops.state.chain import Recorded, last_recorded, parse_meta
from mlops_gitops.state.records import DeploymentRecord, Meta, ModelRecord, migrate
from mlops_gitops.state.store import MAX_STATE_BYTES, META_FILE

RECORDS: dict[str, type[BaseModel] | None] = {
    "models": ModelRecord,
    "deployments": DeploymentRecord,
    "rules": None,
    "retirements": None,
    "monitor": None,
    "profiles": None,
}
"""The state's folders and the record type of their files (None: a JSON object, checked by
its own reader when used)."""
MAX_FILES = 200_000
MAX_COMMITS = 64
"""Commits that changed the state looked at when searching for an intact one."""
_NAME = re.compile(NAME_PATTERN)
_SHA = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Snapshot:
    commit: str
    meta: Meta
    files: dict[str, bytes]
    """Path relative to the state folder -> content."""
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Restored:
    source: str
    lineage: str
    serial: int
    files: int
    removed: list[str]
    skipped: list[str]
    commit: str | None


def _problem(rel: str, entry: git.TreeEntry) -> str | None:
    """Why a committed entry cannot be part of the state, None when it can."""
    if entry.kind != "blob" or entry.mode not in ("100644", "100755"):
        return f"{rel} is not a regular file ({entry.mode})"
    if entry.size is None or entry.size > MAX_STATE_BYTES:
        return f"{rel} is larger than {MAX_STATE_BYTES} bytes"
    return None


def _check(rel: str, data: bytes) -> str | None:
    """Validate one file like the work tree's state reader does; the reason when it fails."""
    folder, _, name = rel.rpartition("/")
    try:
        value = loads(data.decode("utf-8"))
        if not isinstance(value, dict):
            return f"{rel} holds a JSON {type(value).__name__}, not an object"
        model = Meta if rel == META_FILE else RECORDS.get(folder)
        if model is None:
            return None
        record = model.model_validate(migrate(value))
    except (ValueError, UnicodeDecodeError, ValidationError, TypeError, KeyError) as exc:
        return f"{rel} is not a valid state record ({type(exc).__name__})"
    recorded = getattr(record, "name", None)
    if recorded is not None and name != f"{recorded}.json":
        return f"{rel} records {recorded!r}: a state file is named after its object"
    return None


def _ours(rel: str) -> bool:
    """Whether a path inside the state folder is one the tool writes."""
    if rel == META_FILE:
        return True
    folder, _, name = rel.partition("/")
    stem = name.removesuffix(".json")
    return (
        folder in RECORDS
        and name.endswith(".json")
        and (_NAME.fullmatch(stem) is not None or _SHA.fullmatch(stem) is not None)
    )


def snapshot(root: Path, state_dir: str, commit: str) -> Snapshot:
    """The state folder as committed in `commit`, every file validated; MlopsError naming
    the first problem when it is not intact."""
    folder = state_dir.strip("/")
    entries = git.list_tree(root, commit, folder, MAX_FILES)
    if entries is None:
        raise MlopsError(f"{folder} in commit {commit[:12]} holds more than {MAX_FILES} files")
    wanted, skipped = [], []
    for entry in entries:
        if not _ours(entry.path):
            skipped.append(entry.path)
            continue
        wrong = _problem(entry.path, entry)
        if wrong:
            raise MlopsError(f"{folder} in commit {commit[:12]} is not intact: {wrong}")
        wanted.append(entry.path)
    contents = git.read_files(root, [f"{commit}:{folder}/{p}" for p in wanted], MAX_STATE_BYTES)
    files: dict[str, bytes] = {}
    for rel, data in zip(wanted, contents, strict=True):
        wrong = f"{rel} cannot be read" if data is None else _check(rel, data)
        if wrong or data is None:
            raise MlopsError(f"{folder} in commit {commit[:12]} is not intact: {wrong}")
        files[rel] = data
    meta = parse_meta(files.get(META_FILE))
    if meta is None:
        raise MlopsError(f"{folder} in commit {commit[:12]} has no {META_FILE}")
    return Snapshot(commit, meta, files, skipped)


def _matches(meta: Meta, recorded: Recorded | None) -> bool:
    return recorded is None or (meta.lineage, meta.serial) == (recorded.lineage, recorded.serial)


def find_intact(root: Path, state_dir: str, recorded: Recorded | None) -> Snapshot:
    """The newest commit that changed the state folder and holds it intact, at the lineage
    and serial the history last recorded."""
    for info in git.log(root, [state_dir.strip("/")], max_count=MAX_COMMITS):
        try:
            found = snapshot(root, state_dir, info.sha)
        except MlopsError:
            continue
        if _matches(found.meta, recorded):
            return found
    raise MlopsError(
        f"no commit among the last {MAX_COMMITS} that changed {state_dir} holds it intact"
        + (f" at serial {recorded.serial}" if recorded else ""),
        hint="name one with: mlops-gitops state restore --from <commit>",
    )


def restore(
    root: Path,
    state_dir: str,
    lock_path: Path,
    rev: str | None = None,
    author: str | None = None,
    commit: bool = True,
) -> Restored:
    """Write the intact state of `rev` (default: the last intact commit) into the work tree,
    under the apply lock, and commit it with `Mlops-Restore: <commit>`."""
    if git.head(root) is None:
        raise MlopsError(f"{root} has no git history to restore state from")
    recorded = last_recorded(root, state_dir)
    if rev is None:
        snap = find_intact(root, state_dir, recorded)
    else:
        source = git.resolve(root, rev)
        if source is None:
            raise MlopsError(f"--from {rev!r} names no commit")
        snap = snapshot(root, state_dir, source)
        if not _matches(snap.meta, recorded):
            assert recorded is not None
            raise MlopsError(
                f"the state in {source[:12]} is lineage {snap.meta.lineage} at serial "
                f"{snap.meta.serial}, but git history last recorded lineage "
                f"{recorded.lineage} at serial {recorded.serial} in {recorded.commit[:12]}; "
                "restoring it would undo applied steps",
                hint=f"restore from {recorded.commit[:12]} or a later commit",
            )
    folder = root / state_dir.strip("/")
    with lock.hold(lock_path, "state restore", 0.0, root):
        removed = _write(root, folder, snap.files)
        sha = None
        if commit:
            sha = git.commit(root, [state_dir.strip("/")], _message(snap, state_dir), author)
    return Restored(
        snap.commit,
        snap.meta.lineage,
        snap.meta.serial,
        len(snap.files),
        removed,
        snap.skipped,
        sha,
    )


def _write(root: Path, folder: Path, files: dict[str, bytes]) -> list[str]:
    """The meta goes first and comes back last: a restore cut short leaves no meta, which the
    next plan refuses, so the restore is simply run again."""
    fsguard.remove(root, folder / META_FILE)
    removed = []
    for sub in RECORDS:
        for name in fsguard.listdir(root, folder / sub):
            rel = f"{sub}/{name}"
            if _ours(rel) and rel not in files and fsguard.remove(root, folder / rel):
                removed.append(rel)
    for rel, data in sorted(files.items()):
        if rel != META_FILE:
            if os.path.islink(folder / rel):
                fsguard.remove(root, folder / rel)  # the link goes; nothing is written through it
            fsguard.write(root, folder / rel, data)
    fsguard.write(root, folder / META_FILE, files[META_FILE])
    return removed


def _message(snap: Snapshot, state_dir: str) -> str:
    return (
        f"mlops-gitops: restore recorded state from {snap.commit[:12]}\n\n"
        f"Restored {state_dir} as committed in {snap.commit} (lineage {snap.meta.lineage}, "
        f"serial {snap.meta.serial}).\n\n"
        f"Mlops-Restore: {snap.commit}\n"
    )
