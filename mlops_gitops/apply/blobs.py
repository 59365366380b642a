"""Upkeep of the artifact store: verify, restore, gc.

The store is a cache of what the specs name, keyed by content, and the recorded state says
which blobs it must hold: every registered version's, and an archived version's until
`store.keep_archived` has passed since its archive time. Restoring accepts only bytes that
hash to the recorded sha256, wherever they come from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from mlops_gitops.errors import MlopsError
from mlops_gitops.providers.artifacts import ArtifactStore, open_source
from mlops_gitops.state import lock
from mlops_gitops.state.records import VersionRecord
from mlops_gitops.state.view import StateView
from mlops_gitops.urls import redact_text, redact_url
from mlops_gitops.workspace import LOCK_FILE, Workspace

MAX_REASON = 300


@dataclass(frozen=True)
class Needed:
    """A blob the state needs, with the versions that name it."""

    blob: str
    sha256: str
    versions: list[tuple[str, str]]

    def to_json(self) -> dict[str, Any]:
        return {
            "blob": self.blob,
            "sha256": self.sha256,
            "versions": [f"{model}@{version}" for model, version in self.versions],
        }


def _expired(entry: VersionRecord, now: datetime, workspace: Workspace) -> bool:
    if entry.status != "archived" or entry.archived_at is None:
        return False
    archived = datetime.fromisoformat(entry.archived_at.replace("Z", "+00:00"))
    if archived.tzinfo is None:
        archived = archived.replace(tzinfo=now.tzinfo)
    return now - archived > workspace.project.store.keep_archived


def needed(workspace: Workspace, state: StateView, now: datetime) -> dict[str, Needed]:
    """Blob -> what needs it: registered versions, and archived ones still kept."""
    out: dict[str, Needed] = {}
    for name, record in sorted(state.models.items()):
        for version, entry in sorted(record.versions.items()):
            if _expired(entry, now, workspace):
                continue
            found = out.setdefault(entry.blob, Needed(entry.blob, entry.sha256, []))
            found.versions.append((name, version))
    return out


@dataclass
class Verified:
    store: str = ""
    checked: int = 0
    missing: list[Needed] = field(default_factory=list)
    corrupt: list[Needed] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.corrupt

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": "1",
            "store": self.store,
            "checked": self.checked,
            "ok": self.ok,
            "missing": [n.to_json() for n in self.missing],
            "corrupt": [n.to_json() for n in self.corrupt],
        }


def verify(workspace: Workspace, now: datetime) -> Verified:
    """Hash every blob the state needs (no cache: this is the thorough check)."""
    store = workspace.artifact_store
    result = Verified(store=redact_url(store.location))
    for blob, need in sorted(needed(workspace, workspace.state_store.load(), now).items()):
        result.checked += 1
        if not store.exists(blob):
            result.missing.append(need)
        elif store.digest(blob) != need.sha256:
            result.corrupt.append(need)
    return result


@dataclass
class Restored:
    restored: list[tuple[Needed, str]] = field(default_factory=list)
    """Each blob with where its bytes came from."""
    failed: list[tuple[Needed, str]] = field(default_factory=list)
    """Each blob with why no source gave it back."""
    checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": "1",
            "checked": self.checked,
            "ok": self.ok,
            "restored": [n.to_json() | {"from": where} for n, where in self.restored],
            "failed": [n.to_json() | {"reason": why} for n, why in self.failed],
        }


def _sources(workspace: Workspace, need: Needed, other: ArtifactStore | None) -> list[str]:
    if other is not None:
        return [other.uri(need.blob)]
    found = []
    for model, version in need.versions:
        spec = workspace.manifest.version(model, version)
        if spec is not None and spec.artifact not in found:
            found.append(spec.artifact)
    return found


def restore(workspace: Workspace, now: datetime, source: str | None = None) -> Restored:
    """Re-import missing or corrupt blobs from the specs' artifacts (or the store at
    `source`), under the apply lock so no apply or gc runs meanwhile."""
    root = workspace.root
    store = workspace.artifact_store
    other = ArtifactStore(source, root, workspace.project.security) if source else None
    result = Restored()
    with lock.hold(root / LOCK_FILE, "store restore", 0.0, root):
        checked = verify(workspace, now)
        result.checked = checked.checked
        for need in [*checked.missing, *checked.corrupt]:
            reasons = []
            for location in _sources(workspace, need, other):
                try:
                    if _copy(workspace, store, other, need, location):
                        result.restored.append((need, redact_url(location)))
                        break
                    reasons.append(f"{redact_url(location)} has other content")
                except (OSError, MlopsError) as exc:
                    reasons.append(f"{redact_url(location)}: {_short(exc)}")
            else:
                why = "; ".join(reasons) or "no version naming it is in the specs any more"
                result.failed.append((need, why))
    return result


def _copy(
    workspace: Workspace,
    store: ArtifactStore,
    other: ArtifactStore | None,
    need: Needed,
    location: str,
) -> bool:
    if other is not None:
        with other.open_blob(need.blob) as handle:
            return store.put_verified(handle, need.sha256)
    with open_source(location, workspace.root, workspace.project.security) as handle:
        return store.put_verified(handle, need.sha256)


def _short(exc: Exception) -> str:
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return redact_text(text)[:MAX_REASON]


@dataclass
class Collected:
    removed: list[str] = field(default_factory=list)
    kept: int = 0
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"format_version": "1", **asdict(self)}


def gc(workspace: Workspace, now: datetime, dry_run: bool = False) -> Collected:
    """Remove blobs no state record needs (archived ones past `store.keep_archived`), under
    the apply lock: an apply between listing and removing could be storing one."""
    root = workspace.root
    store = workspace.artifact_store
    result = Collected(dry_run=dry_run)
    with lock.hold(root / LOCK_FILE, "store gc", 0.0, root):
        keep = needed(workspace, workspace.state_store.load(), now)
        for blob in store.blobs():
            if blob in keep:
                result.kept += 1
                continue
            if dry_run or store.remove(blob):
                result.removed.append(blob)
    return result
