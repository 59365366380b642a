"""The registry view: model versions by tag, owner and status, and where a version came from.

Read from the specs, the recorded state and git history; nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlops_gitops import git
from mlops_gitops.apply.status import status as build_status
from mlops_gitops.errors import MlopsError
from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.provenance import Provenance
from mlops_gitops.state.records import DeploymentRecord
from mlops_gitops.workspace import Workspace

MAX_PARENTS = 100
"""How far a parent chain is followed (the specs' check refuses loops; this bounds the rest)."""


@dataclass(frozen=True)
class Query:
    tag: str | None = None
    owner: str | None = None
    status: str | None = None


def models(workspace: Workspace, query: Query, now: datetime | None = None) -> dict[str, Any]:
    """Every version (in the specs or the recorded state) matching `query`."""
    report = build_status(workspace, now or datetime.now(UTC))
    out = []
    for item in report["models"]:
        model = workspace.manifest.models.get(item["model"])
        spec = workspace.manifest.version(item["model"], item["version"]) if model else None
        tags = list(
            dict.fromkeys([*(model.spec.tags if model else []), *(spec.tags if spec else [])])
        )
        owner = model.spec.owner if model else None
        if query.tag is not None and query.tag not in tags:
            continue
        if query.owner is not None and (owner or "").casefold() != query.owner.casefold():
            continue
        if query.status is not None and item["status"] != query.status:
            continue
        out.append(
            {
                "model": item["model"],
                "version": item["version"],
                "status": item["status"],
                "owner": owner,
                "tags": tags,
                "parent": spec.parent if spec else None,
                "created": spec.created.isoformat() if spec and spec.created else None,
                "author": spec.author if spec else None,
                "in_spec": item["in_spec"],
                "metrics": dict(spec.metrics) if spec else {},
            }
        )
    return {"format_version": "1", "versions": out}


def parse_ref(ref: str) -> tuple[str, str]:
    model, sep, version = ref.partition("@")
    if not sep or not model or not version:
        raise MlopsError(f"{ref!r} is not MODEL@VERSION", hint="for example cancer-detector@1.2.0")
    return model, version


def lineage(workspace: Workspace, ref: str) -> dict[str, Any]:
    """Where MODEL@VERSION came from and where it served."""
    model, version = parse_ref(ref)
    state = workspace.state_store.load()
    spec = workspace.manifest.version(model, version)
    record = state.models.get(model)
    recorded = record.versions.get(version) if record else None
    if spec is None and recorded is None:
        known = (
            sorted(workspace.manifest.models)
            if model not in workspace.manifest.models
            else [v.version for v in workspace.manifest.models[model].spec.versions]
        )
        raise MlopsError(
            f"{model}@{version} is in neither the specs nor the recorded state",
            hint=f"known {'versions' if model in workspace.manifest.models else 'models'}: "
            f"{', '.join(known) or 'none'}",
        )
    trained = (spec.lineage if spec else {}) or {}
    return {
        "format_version": "1",
        "model": model,
        "version": version,
        "parents": _parents(workspace, model, spec),
        "children": _children(workspace, model, version),
        "pipeline": trained.get("pipeline"),
        "spec_commit": _spec_commit(workspace, model, version) if spec else None,
        "trained_at_commit": trained.get("commit"),
        "artifact": {
            "path": spec.artifact if spec else (recorded.source if recorded else None),
            "sha256": recorded.sha256 if recorded else (spec.sha256 if spec else None),
        },
        "training_data": spec.training_data.model_dump() if spec and spec.training_data else None,
        "data": [d for d in trained.get("data", []) if isinstance(d, dict)],
        "trainer": trained.get("trainer") if isinstance(trained.get("trainer"), dict) else None,
        "dependencies": dict(spec.dependencies) if spec else {},
        "stages": dict(recorded.stages) if recorded else {},
        "registered_at": recorded.registered_at if recorded else None,
        "archived_at": recorded.archived_at if recorded else None,
        "deployments": _served(state.deployments.values(), model, version),
    }


def _parents(
    workspace: Workspace, model: str, spec: spec_models.ModelVersion | None
) -> list[dict[str, Any]]:
    chain: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    current = spec.parent_ref(model) if spec else None
    while current is not None and current not in seen and len(chain) < MAX_PARENTS:
        seen.add(current)
        entry = workspace.manifest.version(*current)
        chain.append({"model": current[0], "version": current[1], "in_spec": entry is not None})
        current = entry.parent_ref(current[0]) if entry else None
    return chain


def _children(workspace: Workspace, model: str, version: str) -> list[dict[str, str]]:
    out = []
    for name, other in sorted(workspace.manifest.models.items()):
        for entry in other.spec.versions:
            if entry.parent_ref(name) == (model, version):
                out.append({"model": name, "version": entry.version})
    return out


def _spec_commit(workspace: Workspace, model: str, version: str) -> str | None:
    """The commit since which the Model file has listed the version."""
    source = workspace.manifest.sources.get(f"Model/{model}")
    root = workspace.store_root or workspace.root
    commit = workspace.at_commit or git.head(root)
    if source is None or commit is None:
        return None
    return Provenance(root).version_added(commit, source, version)


def _served(records: Any, model: str, version: str) -> list[dict[str, Any]]:
    """Each stretch of time a deployment served the version, from its recorded revisions."""
    out = []
    for record in sorted(records, key=lambda r: r.name):
        assert isinstance(record, DeploymentRecord)
        if record.model != model:
            continue
        start: tuple[str, str] | None = None
        for revision in record.history:
            roles = {revision.version: "stable"}
            if revision.canary is not None:
                roles.setdefault(revision.canary.version, "canary")
            role = roles.get(version)
            if start is not None and role != start[1]:
                out.append(_stretch(record, start, revision.time))
                start = None
            if start is None and role is not None:
                start = (revision.time, role)
        if start is not None:
            until = None if record.status == "deployed" else record.updated_at
            out.append(_stretch(record, start, until))
    return out


def _stretch(record: DeploymentRecord, start: tuple[str, str], until: str | None) -> dict[str, Any]:
    return {
        "deployment": record.name,
        "stage": record.settings.get("stage"),
        "role": start[1],
        "from": start[0],
        "until": until,
    }
