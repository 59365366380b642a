"""Status: desired vs recorded, sync and health, per deployment and model version."""

from __future__ import annotations

import os
import posixpath
from datetime import UTC, datetime
from typing import Any

from mlops_gitops.plan.draft import DEFAULT_STAGE_ORDER, deployment_config, recorded_config
from mlops_gitops.plan.retirements import deprecations
from mlops_gitops.providers.artifacts import BLOB_RE, ArtifactStore
from mlops_gitops.spec.cache import HashCache, now_ns
from mlops_gitops.state.records import DeploymentRecord
from mlops_gitops.state.view import StateView
from mlops_gitops.workspace import Workspace

LOAD_CHECKED = frozenset({"skops", "onnx"})
"""Formats whose artifacts apply loads before deploying them."""


def status(workspace: Workspace, now: datetime | None = None) -> dict[str, Any]:
    """`now` (default: the clock) decides which versions retirement plans have deprecated."""
    state = workspace.state_store.load()
    hashes = HashCache.open(workspace.root)
    deployments = []
    names = sorted(set(workspace.manifest.deployments) | set(state.deployments))
    for name in names:
        desired_obj = workspace.manifest.deployments.get(name)
        record = state.deployments.get(name)
        if record is not None and record.status != "deployed":
            record = None
        desired = (
            deployment_config(desired_obj.spec, workspace.manifest.project.spec)
            if desired_obj
            else None
        )
        actual = recorded_config(record) if record else None
        sync = "Synced" if desired == actual else "OutOfSync"
        if desired_obj is not None and desired_obj.spec.suspend:
            health = "Suspended"
        elif record is None:
            health = "Missing"
        else:
            health = _health(workspace, state, record, hashes)
        deployments.append(
            {
                "name": name,
                "model": (
                    desired_obj.spec.model if desired_obj else record.model if record else None
                ),
                "desired": desired and _short(desired),
                "actual": actual and _short(actual),
                "sync": sync,
                "health": health,
            }
        )
    hashes.save()
    return {
        "format_version": "1",
        "deployments": deployments,
        "models": _versions(workspace, state, now or datetime.now(UTC)),
    }


def _health(
    workspace: Workspace, state: StateView, record: DeploymentRecord, hashes: HashCache
) -> str:
    """What the tool itself can check, per target, and no more: it never sees a server or a
    cluster. A local deployment is `Loadable` when every blob it serves is in the store with
    its recorded sha256 and its format was load-checked when applied (the same bytes loaded
    then), `Present` when the format has no load check or the store is remote; a kserve one
    is `Rendered` when its manifest is in the repository."""
    if record.settings.get("target") == "kserve":
        manifest = record.serving.get("manifest")
        folder = f"{workspace.project.rendered_dir.strip('/')}/kserve/"
        # The state file is repository content: only a plain path into the rendered folder
        # is looked at, never one that climbs out of it.
        inside = (
            isinstance(manifest, str)
            and posixpath.normpath(manifest).startswith(folder)
            and ".." not in manifest.split("/")
        )
        path = workspace.root / manifest if inside and isinstance(manifest, str) else None
        if path is None or path.is_symlink() or not path.is_file():
            return f"Degraded (manifest {manifest or '(none)'} missing)"
        return "Rendered"
    store = workspace.artifact_store
    recorded = state.models.get(record.model)
    problems, checked = [], True
    for entry in (record.serving.get("stable"), record.serving.get("canary")):
        if not isinstance(entry, dict) or not isinstance(entry.get("blob"), str):
            continue
        wrong = _blob_problem(store, entry["blob"], hashes)
        if wrong:
            problems.append(f"artifact of {entry.get('version')} {wrong}")
            continue
        version = recorded.versions.get(str(entry.get("version"))) if recorded else None
        checked = checked and version is not None and version.format in LOAD_CHECKED
    if problems:
        return f"Degraded ({'; '.join(problems)})"
    return "Loadable" if checked and not store.remote else "Present"


def _blob_problem(store: ArtifactStore, blob: str, hashes: HashCache) -> str | None:
    """Missing, corrupt or None (fine). Local blobs are hashed once per change of their file
    (the hash cache knows the rest); remote ones are only looked up."""
    if not BLOB_RE.fullmatch(blob):
        return "unknown"
    if store.remote:
        return None if store.exists(blob) else "missing"
    path = store.local_path(blob)
    assert path is not None
    try:
        info = os.lstat(path)
    except OSError:
        return "missing"
    expected = blob[7:9] + blob[10:]
    key = str(path)
    found = hashes.get(key, info)
    if found is None:
        started = now_ns()
        found = store.digest(blob)
        if found is None:
            return "corrupt"
        hashes.put(key, info, found, started)
    return None if found == expected else "corrupt"


def _short(config: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": config["version"],
        "canary": config["canary"],
        "stage": config["settings"]["stage"],
    }


def _versions(workspace: Workspace, state: StateView, now: datetime) -> list[dict[str, Any]]:
    deprecated = deprecations(workspace.manifest, now)
    order = tuple(workspace.project.policies.stage_order) or DEFAULT_STAGE_ORDER
    serving: dict[tuple[str, str], list[str]] = {}
    for record in state.deployments.values():
        if record.status != "deployed":
            continue
        stage = record.settings.get("stage", "")
        for version in [record.version] + ([record.canary.version] if record.canary else []):
            serving.setdefault((record.model, version), []).append(stage)
    out = []
    names = sorted(set(workspace.manifest.models) | set(state.models))
    for name in names:
        model = workspace.manifest.models.get(name)
        recorded = state.models.get(name)
        in_spec = [v.version for v in model.spec.versions] if model else []
        in_state = list(recorded.versions) if recorded else []
        for version in list(dict.fromkeys(in_spec + in_state)):
            entry = recorded.versions.get(version) if recorded else None
            stages = serving.get((name, version), [])
            if entry is None:
                lifecycle = "pending"
            elif entry.status == "archived":
                lifecycle = "archived"
            elif stages:
                lifecycle = max(stages, key=lambda s: order.index(s) if s in order else -1)
            else:
                lifecycle = "registered"
            deprecation = deprecated.get((name, version))
            if deprecation is not None and lifecycle not in ("pending", "archived"):
                lifecycle = "deprecated"  # still registered, maybe serving, on its way out
            out.append(
                {
                    "model": name,
                    "version": version,
                    "status": lifecycle,
                    "in_spec": version in in_spec,
                    "sha256": entry.sha256 if entry else None,
                    "scan": entry.scan.verdict if entry and entry.scan else None,
                    "deprecation": deprecation.to_json() if deprecation else None,
                }
            )
    return out
