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
import io
from pathlib import Path
from typing import Any

from mlops_gitops import fsguard
from mlops_gitops.errors import MlopsError
from mlops_gitops.monitor.profile import ReferenceProfile, build_profile
from mlops_gitops.safeio import dump_bytes, read_json
from mlops_gitops.spec import cache, locations
from mlops_gitops.spec.models import SecuritySettings

WORK_TREE_CACHE = ".mlops/cache"
INDEX_VERSION = 1
MAX_REFERENCE_BYTES = 1 << 30
"""Reference data read from object storage, per object."""


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

    def __init__(
        self, root: Path, state_dir: str, security: SecuritySettings | None = None
    ) -> None:
        self.root = root
        self.state_dir = state_dir
        self.security = security
        found = cache_place(root)
        self.cache_top: Path | None = found[0] if found is not None else None
        self.index_path: Path | None = found[1] if found is not None else None
        self.profiles: dict[str, ReferenceProfile | None] = {}

    def profile(self, reference: str | None) -> ReferenceProfile | None:
        if not reference:
            return None
        if reference not in self.profiles:
            remote = locations.is_remote(reference)
            load = self._load_remote if remote else self._load
            self.profiles[reference] = load(reference)
        return self.profiles[reference]

    def _load_remote(self, reference: str) -> ReferenceProfile | None:
        """Reference data in object storage: read whole (within MAX_REFERENCE_BYTES) when its
        size or version tag is not the one whose hash the local index remembers."""
        from mlops_gitops.monitor.objects import list_objects, read_bytes

        found = list_objects(reference, self.security)
        if len(found) != 1:  # missing (like a missing local file), or a prefix of several
            return None
        obj = found[0]
        key: list[Any] = [obj.size, obj.tag]
        sha = self._indexed(reference, key) if obj.tag else None
        data = b""
        if sha is None:
            data = read_bytes(obj.uri, MAX_REFERENCE_BYTES)
            sha = hashlib.sha256(data).hexdigest()
            self._remember(reference, key, sha)
        stored = self._stored(sha)
        if stored is not None:
            return stored
        data = data or read_bytes(obj.uri, MAX_REFERENCE_BYTES)
        return self._build(reference, sha, io.BytesIO(data), obj.uri.endswith(".parquet"))

    def _load(self, reference: str) -> ReferenceProfile | None:
        path = self.root / reference
        if not path.is_file():
            return None
        if not locations.is_inside(path, self.root):
            raise MlopsError(f"reference data {reference} leads outside the repository")
        sha = self._sha(reference, path)
        stored = self._stored(sha)
        if stored is not None:
            return stored
        return self._build(reference, sha, path, path.suffix == ".parquet")

    def _stored(self, sha: str) -> ReferenceProfile | None:
        stored = self.root / self.state_dir / "profiles" / f"{sha}.json"
        if stored.is_file():
            try:
                profile = ReferenceProfile.from_json(read_json(stored))
                if profile.sha256 == sha:
                    return profile
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                pass  # rebuilt by the caller
        return None

    def _build(self, reference: str, sha: str, source: Any, parquet: bool) -> ReferenceProfile:
        import pandas as pd

        try:
            frame = pd.read_parquet(source) if parquet else pd.read_csv(source)
        except (OSError, ValueError) as exc:  # pandas' and pyarrow's parse errors are ValueErrors
            raise MlopsError(f"reference data {reference} cannot be read: {exc}") from None
        profile = build_profile(frame, sha)
        if not profile.rows or not profile.features:
            raise MlopsError(
                f"reference data {reference} has no rows or no feature columns to measure drift"
                " against (numeric or categorical, besides target)"
            )
        stored = self.root / self.state_dir / "profiles" / f"{sha}.json"
        fsguard.write(self.root, stored, dump_bytes(profile.to_json()))
        return profile

    def _index(self) -> dict[str, Any]:
        if self.index_path is not None:
            try:
                loaded = read_json(self.index_path)
                if isinstance(loaded, dict) and loaded.get("version") == INDEX_VERSION:
                    return loaded
            except (OSError, ValueError):
                pass
        return {}

    def _indexed(self, reference: str, key: list[Any]) -> str | None:
        entry = self._index().get("files", {}).get(reference)
        if isinstance(entry, dict) and entry.get("key") == key:
            sha = entry.get("sha256")
            if isinstance(sha, str) and len(sha) == 64:
                return sha
        return None

    def _remember(self, reference: str, key: list[Any], sha: str) -> None:
        if self.index_path is not None and self.cache_top is not None:
            known = self._index().get("files")
            files: dict[str, Any] = known if isinstance(known, dict) else {}
            files[reference] = {"key": key, "sha256": sha}
            body = dump_bytes({"version": 1, "files": files})
            with contextlib.suppress(OSError, MlopsError):  # not kept: only slower next time
                fsguard.write(self.cache_top, self.index_path, body)

    def _sha(self, reference: str, path: Path) -> str:
        stat = path.stat()
        key: list[Any] = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
        sha = self._indexed(reference, key)
        if sha is not None:
            return sha
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        sha = digest.hexdigest()
        self._remember(reference, key, sha)
        return sha
