"""Specs, recorded state and plans as plain values, for the pure planner.

`project()`, `model()`, `deployment()` and `manifest()` build the typed objects the planner
reads; `state_of()` is the recorded state applies of them leave; `make_plan()` plans at a fixed
time with a clean artifact fact for every version unless told otherwise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from mlops_gitops.compile.manifest import Manifest
from mlops_gitops.facts import ArtifactFact
from mlops_gitops.plan.digests import version_digest
from mlops_gitops.plan.draft import PlanInputs, deployment_config
from mlops_gitops.plan.model import Plan
from mlops_gitops.plan.planner import plan
from mlops_gitops.spec import models as spec_models
from mlops_gitops.state.records import (
    CanaryRecord,
    DeploymentRecord,
    Meta,
    ModelRecord,
    Revision,
    ScanRecord,
    VersionRecord,
)
from mlops_gitops.state.view import StateView
from tests.support.repos import API

NOW = "2026-03-01T12:00:00+00:00"
LINEAGE = "00000000-0000-4000-8000-000000000000"


def project(**spec: Any) -> spec_models.Project:
    return spec_models.Project.model_validate(
        {"apiVersion": API, "kind": "Project", "metadata": {"name": "test"}, "spec": spec}
    )


def version(v: str, fmt: str = "safetensors", **extra: Any) -> dict[str, Any]:
    return {"version": v, "format": fmt} | extra


def model(
    name: str,
    *versions: dict[str, Any] | str,
    task: str = "classification",
    fmt: str = "safetensors",
    metrics: Mapping[str, float] | None = None,
) -> spec_models.Model:
    """A model; versions given by number get `fmt` and `metrics`."""
    extra = {} if metrics is None else {"metrics": dict(metrics)}
    entries = [version(v, fmt, **extra) if isinstance(v, str) else v for v in versions]
    for entry in entries:
        entry.setdefault("artifact", f"artifacts/{name}/{entry['version']}/model.bin")
    return spec_models.Model.model_validate(
        {
            "apiVersion": API,
            "kind": "Model",
            "metadata": {"name": name},
            "spec": {"task": task, "versions": entries},
        }
    )


def deployment(
    name: str,
    model_name: str,
    stable: str,
    *,
    stage: str = "production",
    canary: tuple[str, int] | None = None,
    gates: Mapping[str, str] | None = None,
    requires_stage: str | None = None,
    **spec: Any,
) -> spec_models.Deployment:
    data: dict[str, Any] = {"model": model_name, "stage": stage, "version": stable} | spec
    if canary is not None:
        data["canary"] = {"version": canary[0], "traffic": canary[1]}
    promotion: dict[str, Any] = {}
    if gates:
        promotion["gates"] = dict(gates)
    if requires_stage:
        promotion["requires_stage"] = requires_stage
    if promotion:
        data["promotion"] = promotion
    return spec_models.Deployment.model_validate(
        {"apiVersion": API, "kind": "Deployment", "metadata": {"name": name}, "spec": data}
    )


def tombstone(name: str) -> spec_models.Tombstone:
    return spec_models.Tombstone.model_validate(
        {
            "apiVersion": API,
            "kind": "Tombstone",
            "metadata": {"name": name},
            "spec": {"kind": "Deployment"},
        }
    )


def manifest(
    models: Iterable[spec_models.Model] = (),
    deployments: Iterable[spec_models.Deployment] = (),
    *,
    proj: spec_models.Project | None = None,
    tombstones: Iterable[spec_models.Tombstone] = (),
) -> Manifest:
    models = list(models)
    deployments = list(deployments)
    tombstones = list(tombstones)
    sources = {"Project/test": "mlops.yaml"}
    sources |= {f"Model/{x.metadata.name}": f"models/{x.metadata.name}.yaml" for x in models}
    sources |= {
        f"Deployment/{x.metadata.name}": f"deployments/{x.metadata.name}.yaml" for x in deployments
    }
    return Manifest(
        project=proj or project(),
        models={x.metadata.name: x for x in models},
        deployments={x.metadata.name: x for x in deployments},
        rules={},
        retirements={},
        pipelines={},
        tombstones={x.metadata.name: x for x in tombstones},
        sources=sources,
        inputs_sha256="0" * 64,
    )


def sha_of(model_name: str, v: str) -> str:
    """The sha256 a fake artifact of (model, version) has in these tests."""
    return hashlib.sha256(f"{model_name}@{v}".encode()).hexdigest()


def fact(model_name: str, v: str, **overrides: Any) -> ArtifactFact:
    base: dict[str, Any] = {
        "exists": True,
        "sha256": sha_of(model_name, v),
        "size": 100,
        "scan_verdict": "not-needed",
        "scanner": "none",
    }
    return ArtifactFact(**(base | overrides))


def facts_for(man: Manifest, **overrides: ArtifactFact) -> dict[tuple[str, str], ArtifactFact]:
    """A clean fact for every version in the manifest; override by `"model@version"` keys."""
    out = {}
    for name, mod in man.models.items():
        for entry in mod.spec.versions:
            out[(name, entry.version)] = fact(name, entry.version)
    for key, value in overrides.items():
        name, _, v = key.partition("@")
        out[(name, v)] = value
    return out


def version_record(
    man: Manifest,
    model_name: str,
    v: str,
    *,
    stages: Mapping[str, str] | None = None,
    status: Literal["registered", "archived"] = "registered",
    sha256: str | None = None,
) -> VersionRecord:
    spec = man.version(model_name, v)
    assert spec is not None, (model_name, v)
    sha = sha256 or sha_of(model_name, v)
    return VersionRecord(
        version=v,
        status=status,
        sha256=sha,
        size=100,
        format=spec.format,
        source=spec.artifact,
        blob=f"sha256/{sha[:2]}/{sha[2:]}",
        registered_at=NOW,
        archived_at=NOW if status == "archived" else None,
        metrics=dict(spec.metrics),
        spec_digest=version_digest(spec),
        scan=ScanRecord(scanner="none", scanner_version="-", verdict="not-needed"),
        stages=dict(stages or {}),
    )


def deployment_record(
    dep: spec_models.Deployment,
    *,
    history: Sequence[str] = (),
    status: Literal["deployed", "undeployed"] = "deployed",
) -> DeploymentRecord:
    """The record an apply of `dep` leaves; `history` lists earlier stable versions."""
    config = deployment_config(dep.spec)
    canary = CanaryRecord(**config["canary"]) if config["canary"] else None
    revisions = [
        Revision(revision=i + 1, action="deploy", version=v, time=NOW)
        for i, v in enumerate([*history, dep.spec.version])
    ]
    revisions[-1] = revisions[-1].model_copy(update={"canary": canary})
    return DeploymentRecord(
        name=dep.metadata.name,
        model=dep.spec.model,
        status=status,
        version=dep.spec.version,
        canary=canary,
        settings=config["settings"],
        history=revisions,
        updated_at=NOW,
    )


def state_of(
    man: Manifest,
    *,
    deployments: Iterable[tuple[spec_models.Deployment, Sequence[str]]] | None = None,
    stages: Mapping[str, Mapping[str, str]] | None = None,
    serial: int = 1,
    lineage: str = LINEAGE,
) -> StateView:
    """Every version of the manifest registered, and `deployments` as applied: (spec, earlier
    stable versions); by default the manifest's own. `stages` ("model@version" -> stage ->
    since) defaults to the stages those deployments serve each version in, since NOW."""
    served = [(d, ()) for d in man.deployments.values()] if deployments is None else deployments
    applied = [(dep, tuple(history)) for dep, history in served]
    if stages is None:
        derived: dict[str, dict[str, str]] = {}
        for dep, _ in applied:
            used = [dep.spec.version] + ([dep.spec.canary.version] if dep.spec.canary else [])
            for v in used:
                derived.setdefault(f"{dep.spec.model}@{v}", {})[dep.spec.stage] = NOW
        stages = derived
    models = {
        name: ModelRecord(
            name=name,
            task=mod.spec.task,
            versions={
                e.version: version_record(
                    man, name, e.version, stages=stages.get(f"{name}@{e.version}")
                )
                for e in mod.spec.versions
            },
        )
        for name, mod in man.models.items()
    }
    records = {dep.metadata.name: deployment_record(dep, history=h) for dep, h in applied}
    meta = Meta(lineage=lineage, serial=serial, updated_at=NOW)
    return StateView(models=models, deployments=records, meta=meta)


def synced_state(man: Manifest, *, serial: int = 1, lineage: str = LINEAGE) -> StateView:
    """The recorded state after every step of the manifest's plan was applied."""
    return state_of(man, serial=serial, lineage=lineage)


def with_records(
    state: StateView,
    models: Iterable[ModelRecord] = (),
    deployments: Iterable[DeploymentRecord] = (),
    drop_deployments: Iterable[str] = (),
) -> StateView:
    new_models = dict(state.models) | {r.name: r for r in models}
    new_deps = dict(state.deployments) | {r.name: r for r in deployments}
    for name in drop_deployments:
        new_deps.pop(name, None)
    return StateView(models=new_models, deployments=new_deps, meta=state.meta)


def with_version(state: StateView, model_name: str, record: VersionRecord) -> StateView:
    current = state.models[model_name]
    updated = current.model_copy(
        update={"versions": dict(current.versions) | {record.version: record}}
    )
    return with_records(state, models=[updated])


def make_plan(
    man: Manifest,
    state: StateView | None = None,
    *,
    facts: Mapping[tuple[str, str], ArtifactFact] | None = None,
    now: datetime | None = None,
    **kwargs: Any,
) -> Plan:
    """The plan at `now` (NOW by default), every artifact clean unless `facts` say otherwise."""
    return plan(
        PlanInputs(
            manifest=man,
            state=state or StateView(),
            now=now or datetime.fromisoformat(NOW),
            facts=facts_for(man) if facts is None else facts,
            **kwargs,
        )
    )
