"""The executor: runs a plan's ready steps through one small handler per action.

Each handler writes its side effects first and the object's state record last, so the
record is the step's commit point; every side effect is idempotent, so a step interrupted
at any point is simply done again by the next apply.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from mlops_gitops import progress
from mlops_gitops.apply.journal import Journal
from mlops_gitops.compile.manifest import Manifest
from mlops_gitops.errors import MlopsError
from mlops_gitops.plan.digests import version_digest
from mlops_gitops.plan.model import Plan, Step
from mlops_gitops.providers.artifacts import ArtifactStore
from mlops_gitops.providers.scan import (
    remember,
    scan,
    scanned,
    trusted_types,
    verdict_key,
)
from mlops_gitops.providers.targets import KServeTarget, LocalTarget, TargetResult
from mlops_gitops.state.records import (
    CanaryRecord,
    DeploymentRecord,
    ModelRecord,
    Revision,
    ScanRecord,
    VersionRecord,
)
from mlops_gitops.state.store import StateStore
from mlops_gitops.urls import redact_text, redact_url

FAULT_ENV = "MLOPS_GITOPS_FAULT"
"""Test hook: `<point>:<n>` kills the process with SIGKILL at the n-th time it reaches point."""


class Target(Protocol):
    def apply(
        self,
        name: str,
        config: dict[str, Any] | None,
        versions: dict[str, VersionRecord],
        meta: dict[str, Any],
    ) -> TargetResult: ...


_fault_counts: dict[str, int] = {}


def fault_point(point: str) -> None:
    wanted = os.environ.get(FAULT_ENV)
    if not wanted:
        return
    name, _, count = wanted.partition(":")
    if name != point:
        return
    _fault_counts[point] = _fault_counts.get(point, 0) + 1
    if _fault_counts[point] == int(count or "1"):
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class Outcome:
    step: Step
    status: str
    """done, failed, skipped (a dependency failed) or blocked."""
    message: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass
class Context:
    repo_root: Path
    manifest: Manifest
    state: StateStore
    store: ArtifactStore
    now: datetime
    spec_commit: str | None
    rendered_dir: str
    touched: set[Path] = field(default_factory=set)

    def target(self, name: str) -> Target:
        if name == "kserve":
            return KServeTarget(self.store, self.repo_root, self.rendered_dir)
        return LocalTarget(self.store)


class StepFailed(MlopsError):
    pass


def run_steps(ctx: Context, plan: Plan, journal: Journal) -> list[Outcome]:
    outcomes: list[Outcome] = []
    failed: set[str] = set()
    for step in progress.each(plan.steps, "apply: steps"):
        if step.status == "blocked":
            outcomes.append(Outcome(step, "blocked", "; ".join(step.blocked_by)))
            failed.add(step.id)
            continue
        broken = [d for d in step.depends_on if d in failed]
        if broken:
            outcomes.append(Outcome(step, "skipped", f"depends on {', '.join(broken)}"))
            failed.add(step.id)
            continue
        journal.intend(step.id, step.trailer(), step.reason)
        fault_point("step-started")
        try:
            warnings = HANDLERS[step.action](ctx, step)
        except (MlopsError, OSError) as exc:
            why = redact_text(str(exc))  # an OSError may name a URL with its credentials
            journal.done(step.id, "failed", why)
            outcomes.append(Outcome(step, "failed", why))
            failed.add(step.id)
            continue
        fault_point("step-written")
        journal.done(step.id)
        outcomes.append(Outcome(step, "done", warnings=warnings))
    return outcomes


# ---------------------------------------------------------------- handlers


def _now(ctx: Context) -> str:
    return ctx.now.isoformat(timespec="seconds")


def _model_record(ctx: Context, name: str) -> ModelRecord:
    view = ctx.state.load_one("models", name, ModelRecord)
    if view is not None:
        return view
    model = ctx.manifest.models[name]
    return ModelRecord(name=name, task=model.spec.task)


def _register(ctx: Context, step: Step) -> list[str]:
    name, version = step.object.name, step.object.version
    assert version is not None
    spec = ctx.manifest.version(name, version)
    if spec is None:
        raise StepFailed(f"version {version} is no longer in the spec of {name}")
    stored = ctx.store.put(spec.artifact)
    try:
        fault_point("blob-stored")
        expected = (step.after or {}).get("sha256")
        if expected and stored.sha256 != expected:
            raise StepFailed(
                f"artifact {redact_url(spec.artifact)} changed since the plan: sha256"
                f" {stored.sha256[:12]}... is not the planned {expected[:12]}...; plan again"
            )
        if spec.sha256 and stored.sha256 != spec.sha256:
            raise StepFailed(f"sha256 of {redact_url(spec.artifact)} does not match the spec")
        trusted = trusted_types(spec) if spec.format == "skops" else ()
        key = verdict_key(stored.sha256, spec.format, trusted)
        verdict = scanned(key)  # scanned in this process: the store's blob has this content
        if verdict is None:
            # The bytes just stored: the store's file, or a remote store's local spool of them.
            path = ctx.store.local_path(stored.blob) or stored.spooled
            assert path is not None
            verdict = scan(path, spec.format, trusted)
            remember(key, verdict, scanned=True)
    finally:
        if stored.spooled is not None:
            stored.spooled.unlink(missing_ok=True)
    if verdict.verdict in ("unsafe", "error"):
        raise StepFailed(
            f"security scan ({verdict.scanner}) {verdict.verdict}: {'; '.join(verdict.findings)}"
        )
    record = _model_record(ctx, name)
    previous = record.versions.get(version)
    if previous is not None and previous.sha256 != stored.sha256:
        raise StepFailed(f"version {version} is immutable and was registered with other content")
    entry = VersionRecord(
        version=version,
        sha256=stored.sha256,
        size=stored.size,
        format=spec.format,
        source=redact_url(spec.artifact),
        blob=stored.blob,
        registered_at=previous.registered_at if previous else _now(ctx),
        metrics=dict(spec.metrics),
        spec_digest=version_digest(spec),
        scan=ScanRecord(
            scanner=verdict.scanner,
            scanner_version=verdict.scanner_version,
            verdict=verdict.verdict,
            findings=list(verdict.findings),
            key=key,
        ),
        stages=dict(previous.stages) if previous else {},
    )
    versions = dict(record.versions) | {version: entry}
    ctx.state.write("models", name, record.model_copy(update={"versions": versions}))
    return []


def _update_version(ctx: Context, step: Step) -> list[str]:
    name, version = step.object.name, step.object.version
    assert version is not None and step.after is not None
    record = _model_record(ctx, name)
    entry = record.versions[version]
    updated = entry.model_copy(
        update={
            "metrics": step.after["metrics"],
            "source": step.after["source"],
            "spec_digest": step.after["spec_digest"],
        }
    )
    versions = dict(record.versions) | {version: updated}
    ctx.state.write("models", name, record.model_copy(update={"versions": versions}))
    return []


def _retire(ctx: Context, step: Step) -> list[str]:
    name, version = step.object.name, step.object.version
    assert version is not None
    record = _model_record(ctx, name)
    entry = record.versions[version]
    archived = entry.model_copy(update={"status": "archived", "archived_at": _now(ctx)})
    versions = dict(record.versions) | {version: archived}
    ctx.state.write("models", name, record.model_copy(update={"versions": versions}))
    return []


def _deployment(ctx: Context, step: Step) -> list[str]:
    if step.object.kind == "Model":
        return _update_version(ctx, step)
    name = step.object.name
    after = step.after
    assert after is not None
    desired = ctx.manifest.deployments.get(name)
    current = ctx.state.load_one("deployments", name, DeploymentRecord)
    model_name = desired.spec.model if desired else current.model if current else ""
    model = _model_record(ctx, model_name)
    wanted = [after["version"]] + ([after["canary"]["version"]] if after["canary"] else [])
    for version in wanted:
        entry = model.versions.get(version)
        if entry is None or entry.status != "registered":
            raise StepFailed(f"version {version} of {model_name} is not registered")
        if not ctx.store.exists(entry.blob):
            raise StepFailed(
                f"the artifact of {model_name} {version} ({entry.blob}) is missing from the "
                "artifact store; run `mlops-gitops store restore` to bring it back"
            )
    settings = after["settings"]
    meta = {
        "model": model_name,
        "labels": dict(desired.metadata.labels) if desired else {},
        "trusted_types": {v: trusted_types(ctx.manifest.version(model_name, v)) for v in wanted},
    }
    target = settings.get("target", "local")
    result = ctx.target(target).apply(name, after, dict(model.versions), meta)
    ctx.touched.update(result.written + result.removed)
    old_target = current.settings.get("target", "local") if current else None
    if current is not None and current.status == "deployed" and old_target != target:
        # Moving to another target: the old one stops serving (kserve drops its manifest).
        gone = ctx.target(old_target or "local").apply(name, None, {}, {})
        ctx.touched.update(gone.written + gone.removed)
    fault_point("target-applied")
    # The model's stage history first, the deployment record last: the record is the
    # step's commit point, and recording a stage twice is harmless.
    stage = settings.get("stage", "")
    versions = dict(model.versions)
    for version in wanted:
        entry = versions[version]
        if stage and stage not in entry.stages:
            versions[version] = entry.model_copy(
                update={"stages": entry.stages | {stage: _now(ctx)}}
            )
    ctx.state.write("models", model_name, model.model_copy(update={"versions": versions}))
    canary = CanaryRecord(**after["canary"]) if after["canary"] else None
    # Serving another model starts a new history: rollback looks for that model's versions.
    history = list(current.history) if current and current.model == model_name else []
    last = history[-1] if history else None
    if last is None or last.version != after["version"] or last.canary != canary:
        history.append(
            Revision(
                revision=(last.revision + 1) if last else 1,
                action=step.action,
                version=after["version"],
                canary=canary,
                time=_now(ctx),
                commit=ctx.spec_commit,
            )
        )
    record = DeploymentRecord(
        name=name,
        model=model_name,
        version=after["version"],
        canary=canary,
        settings=settings,
        serving=result.serving,
        history=history,
        updated_at=_now(ctx),
    )
    ctx.state.write("deployments", name, record)
    return result.warnings


def _undeploy(ctx: Context, step: Step) -> list[str]:
    name = step.object.name
    current = ctx.state.load_one("deployments", name, DeploymentRecord)
    if current is None:
        return []
    target = ctx.target(current.settings.get("target", "local"))
    result = target.apply(name, None, {}, {})
    ctx.touched.update(result.written + result.removed)
    record = current.model_copy(
        update={"status": "undeployed", "serving": {}, "updated_at": _now(ctx)}
    )
    ctx.state.write("deployments", name, record)
    return result.warnings


HANDLERS = {
    "register": _register,
    "deploy": _deployment,
    "promote": _deployment,
    "rollback": _deployment,
    "update": _deployment,
    "retire": _retire,
    "undeploy": _undeploy,
}
