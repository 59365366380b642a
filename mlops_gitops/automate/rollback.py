"""`rollback`: edit a deployment's spec back to an earlier version and commit the edit.

It changes desired state only; plan and apply carry it out like any other change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from mlops_gitops import fsguard, git
from mlops_gitops.errors import MlopsError
from mlops_gitops.spec.edit import SpecEditor
from mlops_gitops.workspace import Workspace


@dataclass(frozen=True)
class SpecChange:
    path: str
    commit: str | None
    summary: str


def previous_stable(workspace: Workspace, deployment: str) -> str:
    """The last version the deployment served before its current one that may still serve:
    still in the Model spec, not archived, and not past its retirement plan's date today."""
    state = workspace.state_store.load()
    record = state.deployments.get(deployment)
    if record is None:
        raise MlopsError(f"deployment {deployment!r} has no recorded history; apply it first")
    recorded = state.models.get(record.model)
    retired = _retired(workspace, record.model, datetime.now(UTC))
    skipped: list[str] = []
    for revision in reversed(record.history):
        version = revision.version
        if version == record.version or version in skipped:
            continue
        entry = recorded.versions.get(version) if recorded else None
        if (
            version in retired
            or workspace.manifest.version(record.model, version) is None
            or (entry is not None and entry.status == "archived")
        ):
            skipped.append(version)
            continue
        return version
    if not skipped:
        raise MlopsError(
            f"deployment {deployment!r} has served only {record.version}; there is nothing to"
            " roll back to",
            hint="name a version with --to",
        )
    raise MlopsError(
        f"deployment {deployment!r} has no earlier version it may serve (skipped retired or "
        f"archived: {', '.join(skipped)}); there is nothing to roll back to",
        hint="name a version with --to",
    )


def _retired(workspace: Workspace, model: str, now: datetime) -> set[str]:
    day = (now if now.tzinfo else now.replace(tzinfo=UTC)).date()
    return {
        plan.spec.version
        for plan in workspace.manifest.retirements.values()
        if plan.spec.model == model and plan.spec.retirement_date <= day
    }


def edit_deployment(
    workspace: Workspace,
    deployment: str,
    edits: dict[str, object],
    drop_canary: bool,
) -> tuple[str, str]:
    """Apply edits to the deployment's file; returns (relative path, new text)."""
    source = workspace.manifest.sources.get(f"Deployment/{deployment}")
    if source is None:
        raise MlopsError(f"deployment {deployment!r} is not defined in the specs")
    if source.endswith(".j2"):
        raise MlopsError(
            f"{source} is a template; edit it by hand (the tool edits plain YAML files only)"
        )
    if git.is_repo(workspace.root) and git.changed(workspace.root, [source]):
        raise MlopsError(f"{source} has uncommitted changes; commit or stash them first")
    path = workspace.root / source
    editor = SpecEditor(path.read_text(encoding="utf-8"), source)
    for dotted, value in edits.items():
        editor.set_scalar(tuple(dotted.split(".")), value)
    if drop_canary:
        editor.delete_key(("spec", "canary"))
    return source, editor.text


def rollback(
    workspace: Workspace, deployment: str, to: str | None, commit: bool = True
) -> SpecChange:
    spec = workspace.manifest.deployments.get(deployment)
    if spec is None:
        raise MlopsError(f"deployment {deployment!r} is not defined in the specs")
    if commit and not git.is_repo(workspace.root):
        raise MlopsError(f"{workspace.root} is not a git repository; rollback commits its edit")
    target = to or previous_stable(workspace, deployment)
    if workspace.manifest.version(spec.spec.model, target) is None:
        raise MlopsError(f"version {target!r} is not a version of model {spec.spec.model!r}")
    if spec.spec.version == target and spec.spec.canary is None:
        raise MlopsError(f"deployment {deployment!r} already serves {target} with no canary")
    source, text = edit_deployment(
        workspace, deployment, {"spec.version": target}, drop_canary=spec.spec.canary is not None
    )
    fsguard.write(workspace.root, workspace.root / source, text.encode())
    summary = f"rollback {deployment} to {target}"
    sha = None
    if commit:
        was = spec.spec.version + (
            f" + canary {spec.spec.canary.version}" if spec.spec.canary else ""
        )
        message = (
            f"mlops-gitops: {summary}\n\n"
            f"{source}: spec.version {spec.spec.version} -> {target}"
            f"{', canary removed' if spec.spec.canary else ''}.\n\n"
            f"Mlops-Edit: rollback Deployment/{deployment} {target}\n"
            f"Mlops-Reason: {git.one_line(f'manual rollback from {was}')}\n"
        )
        sha = git.commit(workspace.root, [source], message, workspace.project.git.author)
    return SpecChange(source, sha, summary)
