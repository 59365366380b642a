"""Reference profiles by content, and the local caches of monitoring.

A version's reference file is hashed and profiled once; the profile is recorded in the state
(`<state_dir>/profiles/<sha256>.json`) and committed. The hash of a reference file is remembered
by its size and modification time in the git directory (`<git-common-dir>/mlops-gitops/monitor/`,
which no commit can carry), never in the work tree: a doubtful entry is a miss, and a miss means
hashing the file again. Nothing under `.mlops/cache` in the work tree is read any more; a
committed one is ignored with a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

from mlops_gitops import fsguard
from mlops_gitops.errors import MlopsError
from mlops_gitops.monitor.profile import ReferenceProfile, build_profile
from mlops_gitops.safeio import dump_bytes, read_json
from mlops_gitops.spec import cache, locations

WORK_TREE_CACHE = ".mlops/cache"
INDEX_VERSION = 1


def cache_place(root: Path) -> tuple[Path, Path] | None:
    """Where monitoring keeps local caches (the folder writes may not leave, the index file):
    with the other caches of the project, never in the work tree; nowhere when caching is off."""
    where = cache.place(root) if cache.enabled() else None
    return (where.top, where.file("monitor/references.json")) if where is not None else None


def stale_work_tree_caches(root: Path) -> list[str]:
    """Warnings for caches found in the work tree (committed or left by an older version)."""
    folder = root / WORK_TREE_CACHE
    if folder.is_symlink() or not folder.is_dir():
        return [f"{WORK_TREE_CACHE} is not a folder; ignored"] if folder.is_symlink() else []
    found = [
        p
        for p in sorted(folder.rglob("*"))
        if p.name != ".gitignore" and (p.is_file() or p.is_symlink())
    ]
    if not any(p.parent.name == "monitor" or p.name == "references.json" for p in found):
        return []
    return [
        f"ignored {WORK_TREE_CACHE}/ in the work tree ({len(found)} file(s)): monitoring caches "
        "live in the git directory and a cache in the tree is never read; delete it"
    ]


class References:
    """Profiles of reference files, each computed once per content."""

    def __init__(self, root: Path, state_dir: str) -> None:
        self.root = root
        self.state_dir = state_dir
        found = cache_place(root)
        self.cache_top: Path | None = found[0] if found is not None else None
        self.index_path: Path | None = found[1] if found is not None else None
        self.profiles: dict[str, ReferenceProfile | None] = {}

    def profile(self, reference: str | None) -> ReferenceProfile | None:
        if not reference or "://" in reference:
            return None
        if reference not in self.profiles:
            self.profiles[reference] = self._load(reference)
        return self.profiles[reference]

    def _load(self, reference: str) -> ReferenceProfile | None:
        path = self.root / reference
        if not path.is_file():
            return None
        if not locations.is_inside(path, self.root):
            raise MlopsError(f"reference data {reference} leads outside the repository")
        sha = self._sha(reference, path)
        stored = self.root / self.state_dir / "profiles" / f"{sha}.json"
        if stored.is_file():
            try:
                profile = ReferenceProfile.from_json(read_json(stored))
                if profile.sha256 == sha:
                    return profile
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                pass  # rebuilt below
        import pandas as pd

        try:
            frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        except (OSError, ValueError) as exc:  # pandas' and pyarrow's parse errors are ValueErrors
            raise MlopsError(f"reference data {reference} cannot be read: {exc}") from None
        profile = build_profile(frame, sha)
        if not profile.rows or not profile.features:
            raise MlopsError(
                f"reference data {reference} has no rows or no feature columns to measure drift"
                " against (numeric or categorical, besides target)"
            )
        fsguard.write(self.root, stored, dump_bytes(profile.to_json()))
        return profile

    def _sha(self, reference: str, path: Path) -> str:
        stat = path.stat()
        key = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
        index: dict[str, Any] = {}
        if self.index_path is not None:
            try:
                loaded = read_json(self.index_path)
                if isinstance(loaded, dict) and loaded.get("version") == INDEX_VERSION:
                    index = loaded
            except (OSError, ValueError):
                pass
        entry = index.get("files", {}).get(reference)
        if isinstance(entry, dict) and entry.get("key") == key:
            sha = entry.get("sha256")
            if isinstance(sha, str) and len(sha) == 64:
                return sha
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        sha = digest.hexdigest()
        if self.index_path is not None and self.cache_top is not None:
            known = index.get("files")
            files: dict[str, Any] = known if isinstance(known, dict) else {}
            files[reference] = {"key": key, "sha256": sha}
            body = dump_bytes({"version": 1, "files": files})
            with contextlib.suppress(OSError, MlopsError):  # not kept: only slower next time
                fsguard.write(self.cache_top, self.index_path, body)
        return sha
