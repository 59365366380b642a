"""Steps for model versions: register what is new, update edited entries, retire the removed."""

from __future__ import annotations

from typing import Any

from mlops_gitops.compile.manifest import Manifest
from mlops_gitops.facts import ArtifactFact
from mlops_gitops.plan.digests import VersionDigests
from mlops_gitops.plan.draft import Draft
from mlops_gitops.plan.model import ObjectRef, Step
from mlops_gitops.spec import models as spec_models
from mlops_gitops.state.records import VersionRecord
from mlops_gitops.state.view import StateView
from mlops_gitops.urls import redact_url


def needs_facts(
    manifest: Manifest, state: StateView, digests: VersionDigests
) -> list[tuple[str, str, spec_models.ModelVersion]]:
    """Versions whose artifact the caller must inspect before planning."""
    out = []
    for name, model in sorted(manifest.models.items()):
        record = state.models.get(name)
        for version in model.spec.versions:
            recorded = record.versions.get(version.version) if record else None
            if (
                recorded is None
                or recorded.status != "registered"
                or recorded.spec_digest != digests.of(name, version)
            ):
                out.append((name, version.version, version))
    return out


def plan_versions(draft: Draft) -> None:
    digests = draft.inputs.digests
    for name, model in sorted(draft.manifest.models.items()):
        record = draft.state.models.get(name)
        source = draft.manifest.sources.get(f"Model/{name}", "")
        for version in model.spec.versions:
            recorded = record.versions.get(version.version) if record else None
            registered = recorded is not None and recorded.status == "registered"
            if registered and recorded and recorded.spec_digest == digests.of(name, version):
                continue  # unchanged: the common case of a large repository
            fact = draft.inputs.facts.get((name, version.version))
            if recorded is not None and registered:
                before = recorded.model_dump(mode="json")
                _update_version(draft, name, version, before, fact)
                continue
            _register(draft, name, version, fact, source, recorded)
    _retire_removed(draft)


def _register(
    draft: Draft,
    name: str,
    version: spec_models.ModelVersion,
    fact: ArtifactFact | None,
    source: str,
    archived: VersionRecord | None,
) -> None:
    """A new version, or an archived one back in the spec (its recorded sha256 is binding)."""
    blocked = artifact_problems(version, fact, archived.sha256 if archived else None)
    after = {
        "sha256": fact.sha256 if fact else version.sha256,
        "size": fact.size if fact else None,
        "format": version.format,
        "source": redact_url(version.artifact),
        "scan": fact.scan_verdict if fact else None,
    }
    reason = f"version {version.version} added in {source}"
    if archived is not None:
        reason = f"archived version {version.version} is back in {source}"
    step = draft.add(
        Step(
            id=f"register:Model/{name}@{version.version}",
            action="register",
            object=ObjectRef("Model", name, version.version),
            reason=reason,
            before=None,
            after=after,
            status="blocked" if blocked else "ready",
            blocked_by=tuple(blocked),
        )
    )
    draft.register_ids[(name, version.version)] = step.id


def artifact_problems(
    version: spec_models.ModelVersion, fact: ArtifactFact | None, recorded_sha: str | None
) -> list[str]:
    if fact is None:
        return [f"artifact {redact_url(version.artifact)} was not inspected"]
    if not fact.exists or fact.error:
        return [fact.error or f"artifact {redact_url(version.artifact)} not found"]
    problems = []
    if version.sha256 and fact.sha256 != version.sha256:
        problems.append(
            f"sha256 mismatch: the spec says {version.sha256[:12]}..., "
            f"the file {redact_url(version.artifact)} is {(fact.sha256 or '')[:12]}..."
        )
    if recorded_sha and fact.sha256 != recorded_sha:
        problems.append(
            f"version {version.version} is immutable: it was registered with sha256 "
            f"{recorded_sha[:12]}..., the artifact now hashes to {(fact.sha256 or '')[:12]}...;"
            " publish the change as a new version"
        )
    if fact.scan_verdict == "unsafe":
        findings = "; ".join(fact.scan_findings) or "no details"
        problems.append(f"security scan ({fact.scanner}) found unsafe content: {findings}")
    elif fact.scan_verdict == "error":
        findings = "; ".join(fact.scan_findings) or "no details"
        problems.append(
            f"security scan ({fact.scanner}) could not check {version.artifact}: {findings}"
        )
    return problems


def _update_version(
    draft: Draft,
    name: str,
    version: spec_models.ModelVersion,
    before: dict[str, Any],
    fact: ArtifactFact | None,
) -> None:
    blocked = artifact_problems(version, fact, before["sha256"])
    after = dict(before) | {
        "metrics": dict(version.metrics),
        "source": redact_url(version.artifact),
        "spec_digest": draft.inputs.digests.of(name, version),
    }
    draft.add(
        Step(
            id=f"update:Model/{name}@{version.version}",
            action="update",
            object=ObjectRef("Model", name, version.version),
            reason=f"the spec entry of version {version.version} changed",
            before=before,
            after=after,
            status="blocked" if blocked else "ready",
            blocked_by=tuple(blocked),
        )
    )


def _retire_removed(draft: Draft) -> None:
    for name, record in sorted(draft.state.models.items()):
        desired = draft.manifest.models.get(name)
        wanted = {v.version for v in desired.spec.versions} if desired else set()
        for version, entry in sorted(record.versions.items()):
            if entry.status != "registered" or version in wanted:
                continue
            where = "the model was removed" if desired is None else "removed from the spec"
            draft.add(
                Step(
                    id=f"retire:Model/{name}@{version}",
                    action="retire",
                    object=ObjectRef("Model", name, version),
                    reason=f"{where}; the artifact is archived, not deleted",
                    before={"status": "registered"},
                    after={"status": "archived", "blob": entry.blob},
                )
            )
