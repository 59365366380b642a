"""Steps for deployments: deploy, promote, roll back, canary changes, settings, undeploy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops_gitops.plan.draft import Draft, deployment_config, recorded_config
from mlops_gitops.plan.gates import Observed, evaluate
from mlops_gitops.plan.model import Action, GateResult, ObjectRef, Step
from mlops_gitops.plan.stages import Promotable, StageKey, lower_stages, resolve
from mlops_gitops.spec import models as spec_models
from mlops_gitops.state.records import DeploymentRecord


def plan_deployments(draft: Draft) -> None:
    # Stage needs between deployments are settled once every step exists (plan/stages.py).
    # Policies still read the order steps were made in: lower stages first, a deployment
    # moving up ranked by the stage it leaves (its version steps run there first).
    def rank(item: tuple[str, spec_models.Deployment]) -> tuple[int, str]:
        order = draft.stage_order
        stages: list[str] = [item[1].spec.stage]
        record = draft.state.deployments.get(item[0])
        if record is not None and record.status == "deployed":
            stages.append(str(record.settings.get("stage", "")))
        known = [order.index(s) for s in stages if s in order]
        return (min(known) if known else len(order), item[0])

    steps = _DeploymentSteps(draft)
    for name, deployment in sorted(draft.manifest.deployments.items(), key=rank):
        record = draft.state.deployments.get(name)
        if record is not None and record.status != "deployed":
            record = None
        if deployment.spec.suspend:
            desired = deployment_config(deployment.spec, draft.manifest.project.spec)
            if record is None or recorded_config(record) != desired:
                draft.warnings.append(
                    f"Deployment/{name} is suspended: its changes are not planned"
                )
            continue
        steps.deployment(name, deployment, record)
    for name, record in sorted(draft.state.deployments.items()):
        if name in draft.manifest.deployments or record.status != "deployed":
            continue
        steps.undeploy(name, record)
    draft.steps = resolve(draft.steps, draft.needs, draft.promotable, draft.stage_entries)


class _DeploymentSteps:
    """The steps that take one deployment from what is recorded to what its spec says: the
    stable version first, then the canary, then the settings, each depending on the last."""

    def __init__(self, draft: Draft) -> None:
        self.draft = draft
        self.manifest = draft.manifest
        self.state = draft.state
        self.stage_order = draft.stage_order

    def deployment(
        self, name: str, deployment: spec_models.Deployment, record: DeploymentRecord | None
    ) -> None:
        spec = deployment.spec
        desired = deployment_config(spec, self.manifest.project.spec)
        current = recorded_config(record) if record else None
        if current == desired:
            return
        source = self.manifest.sources.get(f"Deployment/{name}", "")
        previous: str | None = None
        # A deployment that now serves another model starts afresh: its history (and so
        # rollback) is about the versions of the model it served before.
        switched = record is not None and record.model != spec.model
        if current is None or switched or current["version"] != spec.version:
            step, current = self._stable(name, spec, record, current, desired, source)
            previous = step.id
        if current["canary"] != desired["canary"]:
            after = dict(current) | {"canary": desired["canary"]}
            step = self._canary_step(name, spec, current, after, source, previous)
            previous, current = step.id, after
        if current["settings"] != desired["settings"]:
            self._settings(name, spec, current, desired, source, previous)

    def _stable(
        self,
        name: str,
        spec: spec_models.DeploymentSpec,
        record: DeploymentRecord | None,
        current: dict[str, Any] | None,
        desired: dict[str, Any],
        source: str,
    ) -> tuple[Step, dict[str, Any]]:
        """The step that makes `spec.version` the stable version, and the config after it."""
        switched = record is not None and record.model != spec.model
        if current is None or switched:
            keep_canary, settings = False, desired["settings"]
        else:
            keep_canary, settings = current["canary"] == desired["canary"], current["settings"]
        after = {
            "model": spec.model,
            "version": spec.version,
            "canary": desired["canary"] if keep_canary else None,
            "settings": settings,
        }
        stage = str(settings.get("stage", ""))
        action, why = self._stable_action(spec, None if switched else record, stage)
        if switched and record is not None:
            was = f"was {record.model} {record.version}"
            why = f"now serves model {spec.model} {spec.version} ({was})"
        step = self._version_step(
            name, spec, action, spec.version, "stable", current, after, f"{why} ({source})"
        )
        if action == "deploy":
            lower = lower_stages(self.stage_order, spec.stage)
            self.draft.promotable[step.id] = Promotable(
                spec.model, spec.version, spec.stage, lower, source
            )
        return step, after

    def _settings(
        self,
        name: str,
        spec: spec_models.DeploymentSpec,
        current: dict[str, Any],
        desired: dict[str, Any],
        source: str,
        previous: str | None,
    ) -> None:
        """A promote when the stage goes up (gated like any version entering a stage), else an
        update of the settings that changed."""
        after = dict(current) | {"settings": desired["settings"]}
        if self._stage_up(current["settings"].get("stage"), spec.stage):
            reason = f"stage raised to {spec.stage} ({source})"
            self._version_step(
                name, spec, "promote", spec.version, "stage", current, after, reason, previous
            )
            return
        changed = sorted(
            k
            for k in set(desired["settings"]) | set(current["settings"])
            if current["settings"].get(k) != desired["settings"].get(k)
        )
        self.draft.add(
            Step(
                id=f"update:Deployment/{name}:settings",
                action="update",
                object=ObjectRef("Deployment", name, None),
                reason=f"{', '.join(changed)} changed ({source})",
                before=current,
                after=after,
                depends_on=(previous,) if previous else (),
            )
        )

    def _stage_up(self, before: str | None, after: str) -> bool:
        if before is None or before == after:
            return False
        order = self.stage_order
        return before in order and after in order and order.index(after) > order.index(before)

    def _stable_action(
        self, spec: spec_models.DeploymentSpec, record: DeploymentRecord | None, stage: str
    ) -> tuple[Action, str]:
        """The action that makes `spec.version` stable (in `stage`, then raised to
        `spec.stage` by the stage step if they differ) and why."""
        version = spec.version
        meanwhile = ""
        if stage != spec.stage:
            meanwhile = f" while the deployment is still in {stage}; its stage is raised next"
        if record is not None:
            if record.canary is not None and record.canary.version == version:
                why = f"canary {version} becomes stable, replacing {record.version}"
                return "promote", why + meanwhile
            served = [r.version for r in record.history]
            if version in served:
                why = f"returns to {version}, served before (was {record.version})"
                return "rollback", why + meanwhile
        lower = self._ran_lower(spec.model, version, spec.stage)
        if lower and stage != spec.stage:
            old = f"replaces {record.version}" if record else "is deployed"
            why = f"{version} ran in {lower} and now heads for {spec.stage}: it {old} in {stage}"
            return "promote", f"{why}, then its stage is raised"
        if lower:
            return "promote", f"{version} ran in {lower} and now enters {spec.stage}"
        # Whether it enters a lower stage earlier in this plan (then it is a promote too) is
        # settled once every step exists: plan/stages.py.
        if record is None:
            return "deploy", f"new deployment serving {version}" + meanwhile
        return "deploy", f"{version} replaces {record.version}" + meanwhile

    def _ran_lower(self, model: str, version: str, stage: str) -> str | None:
        order = self.stage_order
        if stage not in order:
            return None
        record = self.state.models.get(model)
        entry = record.versions.get(version) if record else None
        for seen in entry.stages if entry else {}:
            if seen in order and order.index(seen) < order.index(stage):
                return seen
        return None

    def _canary_step(
        self,
        name: str,
        spec: spec_models.DeploymentSpec,
        current: dict[str, Any],
        after: dict[str, Any],
        source: str,
        previous: str | None,
    ) -> Step:
        old, new = current["canary"], after["canary"]
        if new is None:
            return self.draft.add(
                Step(
                    id=f"update:Deployment/{name}:canary",
                    action="update",
                    object=ObjectRef("Deployment", name, old["version"]),
                    reason=f"canary {old['version']} removed ({source})",
                    before=current,
                    after=after,
                    depends_on=(previous,) if previous else (),
                )
            )
        if old is not None and old["version"] == new["version"]:
            reason = f"canary traffic {old['traffic']}% -> {new['traffic']}% ({source})"
            if new["traffic"] <= old["traffic"]:
                return self.draft.add(
                    Step(
                        id=f"update:Deployment/{name}:canary",
                        action="update",
                        object=ObjectRef("Deployment", name, new["version"]),
                        reason=reason,
                        before=current,
                        after=after,
                        depends_on=(previous,) if previous else (),
                    )
                )
            return self._version_step(
                name, spec, "update", new["version"], "canary", current, after, reason, previous
            )
        reason = f"canary {new['version']} at {new['traffic']}% ({source})"
        return self._version_step(
            name, spec, "deploy", new["version"], "canary", current, after, reason, previous
        )

    def _version_step(
        self,
        name: str,
        spec: spec_models.DeploymentSpec,
        action: Action,
        version: str,
        role: str,
        before: dict[str, Any] | None,
        after: dict[str, Any],
        reason: str,
        previous: str | None = None,
    ) -> Step:
        """A step that puts `version` into the deployment: gated unless it is a rollback."""
        depends = [previous] if previous else []
        register = self.draft.register_ids.get((spec.model, version))
        if register:
            depends.append(register)
        gates: list[GateResult] = []
        blocked: list[str] = []
        if action != "rollback":
            gates = self._gates(spec, version)
            blocked += [f"gate {g.describe()}" for g in gates if not g.passed]
            need = self._stage_need(spec, version)
            if need is not None:
                self.draft.needs[f"{action}:Deployment/{name}@{version}:{role}"] = need
        step = self.draft.add(
            Step(
                id=f"{action}:Deployment/{name}@{version}:{role}",
                action=action,
                object=ObjectRef("Deployment", name, version),
                reason=reason,
                before=before,
                after=after,
                status="blocked" if blocked else "ready",
                blocked_by=tuple(blocked),
                gates=tuple(gates),
                depends_on=tuple(dict.fromkeys(depends)),
            )
        )
        return step

    def _gates(self, spec: spec_models.DeploymentSpec, version: str) -> list[GateResult]:
        entry = self.manifest.version(spec.model, version)
        offline = dict(entry.metrics) if entry else {}
        observed: Mapping[str, Observed] = self.draft.inputs.observations.get(
            (spec.model, version), {}
        )
        source = f"offline metrics in {self.manifest.sources.get(f'Model/{spec.model}', 'spec')}"
        return evaluate(
            spec.promotion.gates,
            version=version,
            offline=offline,
            observed=observed,
            offline_source=source,
        )

    def _stage_need(self, spec: spec_models.DeploymentSpec, version: str) -> StageKey | None:
        """The requires_stage the recorded history does not meet yet."""
        needed = spec.promotion.requires_stage
        if needed is None or needed == spec.stage:
            return None
        record = self.state.models.get(spec.model)
        entry = record.versions.get(version) if record else None
        if entry is not None and needed in entry.stages:
            return None
        return spec.model, version, needed

    def undeploy(self, name: str, record: DeploymentRecord) -> None:
        allowed = self.manifest.project.spec.prune or name in self.draft.inputs.tombstones
        how = (
            "its file was removed; to undeploy, replace the file with a Tombstone "
            f"(kind: Tombstone, metadata.name: {name}, spec.kind: Deployment) "
            "or set spec.prune: true in mlops.yaml"
        )
        reason = (
            "replaced by a tombstone" if name in self.draft.inputs.tombstones else "file removed"
        )
        self.draft.add(
            Step(
                id=f"undeploy:Deployment/{name}",
                action="undeploy",
                object=ObjectRef("Deployment", name, record.version),
                reason=reason if allowed else "deployment file removed",
                before=recorded_config(record),
                after=None,
                status="ready" if allowed else "blocked",
                blocked_by=() if allowed else (how,),
            )
        )
