"""What planning reads and the plan as it is being built, shared by the step builders."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlops_gitops.compile.manifest import Manifest
from mlops_gitops.facts import ArtifactFact
from mlops_gitops.plan.digests import VersionDigests
from mlops_gitops.plan.gates import Observations
from mlops_gitops.plan.model import Step
from mlops_gitops.plan.stages import Promotable, StageKey
from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.signed import Signature
from mlops_gitops.state.records import DeploymentRecord
from mlops_gitops.state.view import StateView

DEFAULT_STAGE_ORDER = ("development", "staging", "canary", "production")
SETTINGS_FIELDS = ("stage", "target", "resources", "scaling", "health_check")


@dataclass(frozen=True)
class PlanInputs:
    manifest: Manifest
    state: StateView
    now: datetime
    facts: Mapping[tuple[str, str], ArtifactFact] = field(default_factory=dict)
    observations: Observations = field(default_factory=dict)
    base_commit: str | None = None
    tombstones: frozenset[str] = frozenset()
    """Deployments whose file was replaced by a Tombstone: removal is intended."""
    signatures: Mapping[str, Signature] = field(default_factory=dict)
    """`require_signed_commits`: verified before planning, by `spec.signing` keys."""
    digests: VersionDigests = field(default_factory=VersionDigests)
    """Version digests of this manifest; the caller shares them with `needs_facts`."""


def deployment_config(
    spec: spec_models.DeploymentSpec, project: spec_models.ProjectSpec | None = None
) -> dict[str, Any]:
    """What a deployment's recorded state must equal once applied.

    Settings that only the kserve renderer reads (the payload logger's URL, the pinned KServe
    version) are present only when they apply, so records written before they existed still
    compare equal, and changing them re-renders the manifest."""
    data = spec.model_dump(mode="json")
    settings = {key: data[key] for key in SETTINGS_FIELDS}
    if spec.monitoring.logger_url is not None:
        settings["logger_url"] = spec.monitoring.logger_url
    pinned = project.targets.kserve if project is not None else None
    if spec.target == "kserve" and pinned is not None:
        settings["kserve_version"] = pinned.version
    canary = data["canary"]
    return {
        "model": spec.model,
        "version": spec.version,
        # What serves: the steps and analysis only steer reconcile's spec edits.
        "canary": {"version": canary["version"], "traffic": canary["traffic"]} if canary else None,
        "settings": settings,
    }


def recorded_config(record: DeploymentRecord) -> dict[str, Any]:
    return {
        "model": record.model,
        "version": record.version,
        "canary": record.canary.model_dump(mode="json") if record.canary else None,
        "settings": dict(record.settings),
    }


class Draft:
    """The steps planned so far and what later steps and the ordering need to know of them."""

    def __init__(self, inputs: PlanInputs) -> None:
        self.inputs = inputs
        self.manifest = inputs.manifest
        self.state = inputs.state
        self.steps: dict[str, Step] = {}
        self.warnings: list[str] = []
        policies = self.manifest.project.spec.policies
        self.stage_order = tuple(policies.stage_order) or DEFAULT_STAGE_ORDER
        self.register_ids: dict[tuple[str, str], str] = {}
        self.stage_entries: dict[StageKey, list[str]] = {}
        """(model, version, stage) -> ids of steps in this plan that serve it in that stage."""
        self.needs: dict[str, StageKey] = {}
        """Step id -> the stage its version must have served (requires_stage), not recorded."""
        self.promotable: dict[str, Promotable] = {}

    def add(self, step: Step) -> Step:
        assert step.id not in self.steps, step.id
        self.steps[step.id] = step
        after = step.after
        if step.object.kind == "Deployment" and after and after.get("model"):
            # As the executor records it: every version the deployment serves after the step
            # has served the deployment's stage, whatever the step's action.
            stage = str(after["settings"].get("stage", ""))
            canary = after.get("canary") or {}
            for version in dict.fromkeys([after["version"], canary.get("version")]):
                if version and stage:
                    key = (str(after["model"]), str(version), stage)
                    self.stage_entries.setdefault(key, []).append(step.id)
        return step
