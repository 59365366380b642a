"""The pure planner: (desired state, recorded state, now, observations) -> Plan.

No I/O happens here. Facts that need the disk (artifact hashes, scan verdicts) arrive as
values prepared by the caller, so the planner can be tested with plain values.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from mlops_gitops.compile.manifest import Manifest
from mlops_gitops.facts import ArtifactFact as ArtifactFact
from mlops_gitops.gcpause import collector_paused
from mlops_gitops.plan.gates import Observations, Observed, evaluate
from mlops_gitops.plan.model import Action, GateResult, ObjectRef, Plan, Step
from mlops_gitops.plan.policies import enforce as enforce_policies
from mlops_gitops.plan.retirements import deprecation_warnings
from mlops_gitops.plan.stages import Promotable, StageKey, lower_stages, resolve
from mlops_gitops.safeio import dumps
from mlops_gitops.spec import models as m
from mlops_gitops.spec.signed import Signature
from mlops_gitops.state.records import DeploymentRecord
from mlops_gitops.state.view import StateView
from mlops_gitops.urls import redact_url

DEFAULT_STAGE_ORDER = ("development", "staging", "canary", "production")
SETTINGS_FIELDS = ("stage", "target", "resources", "scaling", "health_check")
_ACTION_RANK = {"register": 0, "update": 1, "deploy": 2, "promote": 3, "rollback": 4}
_ACTION_RANK |= {"undeploy": 5, "retire": 6}


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


_DIGESTS: dict[int, tuple[m.ModelVersion, str]] = {}
"""id -> (version, digest): versions are frozen, so each is hashed once per process."""


_NEWER_FIELDS: dict[str, Any] = {"tags": [], "parent": None, "dependencies": {}}


def version_digest(version: m.ModelVersion) -> str:
    """Hash of a version entry, so metadata edits to a registered version are noticed."""
    known = _DIGESTS.get(id(version))
    if known is not None and known[0] is version:
        return known[1]
    data = version.model_dump(mode="json")
    for key, empty in _NEWER_FIELDS.items():
        if data.get(key) == empty:
            del data[key]  # versions registered before these fields existed keep their digest
    digest = hashlib.sha256(dumps(data, sort_keys=True).encode()).hexdigest()
    if len(_DIGESTS) >= 200_000:
        _DIGESTS.clear()
    _DIGESTS[id(version)] = (version, digest)
    return digest


def remember_digest(version: m.ModelVersion, digest: str) -> None:
    """Seed `version_digest` with what it gave for an identical version in an earlier run
    (the caller's cache is keyed by the file's content and by this module's code)."""
    if len(_DIGESTS) >= 200_000:
        _DIGESTS.clear()
    _DIGESTS[id(version)] = (version, digest)


def needs_facts(manifest: Manifest, state: StateView) -> list[tuple[str, str, m.ModelVersion]]:
    """Versions whose artifact the caller must inspect before planning."""
    out = []
    for name, model in sorted(manifest.models.items()):
        record = state.models.get(name)
        for version in model.spec.versions:
            recorded = record.versions.get(version.version) if record else None
            if (
                recorded is None
                or recorded.status != "registered"
                or recorded.spec_digest != version_digest(version)
            ):
                out.append((name, version.version, version))
    return out


def deployment_config(
    spec: m.DeploymentSpec, project: m.ProjectSpec | None = None
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


class _Builder:
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

    # ------------------------------------------------------------ models

    def models(self) -> None:
        for name, model in sorted(self.manifest.models.items()):
            record = self.state.models.get(name)
            source = self.manifest.sources.get(f"Model/{name}", "")
            for version in model.spec.versions:
                recorded = record.versions.get(version.version) if record else None
                registered = recorded is not None and recorded.status == "registered"
                if registered and recorded and recorded.spec_digest == version_digest(version):
                    continue  # unchanged: the common case of a large repository
                ref = ObjectRef("Model", name, version.version)
                fact = self.inputs.facts.get((name, version.version))
                if recorded is not None and registered:
                    self._update_version(ref, version, recorded.model_dump(mode="json"), fact)
                    continue
                blocked = self._artifact_problems(
                    version, fact, recorded.sha256 if recorded else None
                )
                after = {
                    "sha256": fact.sha256 if fact else version.sha256,
                    "size": fact.size if fact else None,
                    "format": version.format,
                    "source": redact_url(version.artifact),
                    "scan": fact.scan_verdict if fact else None,
                }
                reason = f"version {version.version} added in {source}"
                if recorded is not None:
                    reason = f"archived version {version.version} is back in {source}"
                step = self.add(
                    Step(
                        id=f"register:Model/{name}@{version.version}",
                        action="register",
                        object=ref,
                        reason=reason,
                        before=None,
                        after=after,
                        status="blocked" if blocked else "ready",
                        blocked_by=tuple(blocked),
                    )
                )
                self.register_ids[(name, version.version)] = step.id
        self._retire_removed()

    def _artifact_problems(
        self, version: m.ModelVersion, fact: ArtifactFact | None, recorded_sha: str | None
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
        self,
        ref: ObjectRef,
        version: m.ModelVersion,
        before: dict[str, Any],
        fact: ArtifactFact | None,
    ) -> None:
        blocked = self._artifact_problems(version, fact, before["sha256"])
        after = dict(before) | {
            "metrics": dict(version.metrics),
            "source": redact_url(version.artifact),
            "spec_digest": version_digest(version),
        }
        self.add(
            Step(
                id=f"update:Model/{ref.name}@{ref.version}",
                action="update",
                object=ref,
                reason=f"the spec entry of version {ref.version} changed",
                before=before,
                after=after,
                status="blocked" if blocked else "ready",
                blocked_by=tuple(blocked),
            )
        )

    def _retire_removed(self) -> None:
        for name, record in sorted(self.state.models.items()):
            desired = self.manifest.models.get(name)
            wanted = {v.version for v in desired.spec.versions} if desired else set()
            for version, entry in sorted(record.versions.items()):
                if entry.status != "registered" or version in wanted:
                    continue
                where = "the model was removed" if desired is None else "removed from the spec"
                self.add(
                    Step(
                        id=f"retire:Model/{name}@{version}",
                        action="retire",
                        object=ObjectRef("Model", name, version),
                        reason=f"{where}; the artifact is archived, not deleted",
                        before={"status": "registered"},
                        after={"status": "archived", "blob": entry.blob},
                    )
                )

    # ------------------------------------------------------------ deployments

    def deployments(self) -> None:
        # Stage needs between deployments are settled once every step exists (plan/stages.py).
        # Policies still read the order steps were made in: lower stages first, a deployment
        # moving up ranked by the stage it leaves (its version steps run there first).
        def rank(item: tuple[str, m.Deployment]) -> tuple[int, str]:
            order = self.stage_order
            stages: list[str] = [item[1].spec.stage]
            record = self.state.deployments.get(item[0])
            if record is not None and record.status == "deployed":
                stages.append(str(record.settings.get("stage", "")))
            known = [order.index(s) for s in stages if s in order]
            return (min(known) if known else len(order), item[0])

        for name, deployment in sorted(self.manifest.deployments.items(), key=rank):
            record = self.state.deployments.get(name)
            if record is not None and record.status != "deployed":
                record = None
            if deployment.spec.suspend:
                desired = deployment_config(deployment.spec, self.manifest.project.spec)
                if record is None or recorded_config(record) != desired:
                    self.warnings.append(
                        f"Deployment/{name} is suspended: its changes are not planned"
                    )
                continue
            self._deployment(name, deployment, record)
        for name, record in sorted(self.state.deployments.items()):
            if name in self.manifest.deployments or record.status != "deployed":
                continue
            self._undeploy(name, record)
        self.steps = resolve(self.steps, self.needs, self.promotable, self.stage_entries)

    def _deployment(
        self, name: str, deployment: m.Deployment, record: DeploymentRecord | None
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
                why = (
                    f"now serves model {spec.model} {spec.version} "
                    f"(was {record.model} {record.version})"
                )
            step = self._version_step(
                name,
                spec,
                action,
                spec.version,
                "stable",
                current,
                after,
                f"{why} ({source})",
            )
            if action == "deploy":
                lower = lower_stages(self.stage_order, spec.stage)
                self.promotable[step.id] = Promotable(
                    spec.model, spec.version, spec.stage, lower, source
                )
            previous, current = step.id, after
        if current["canary"] != desired["canary"]:
            after = dict(current) | {"canary": desired["canary"]}
            step = self._canary_step(name, spec, current, after, source, previous)
            previous, current = step.id, after
        if current["settings"] != desired["settings"]:
            changed = sorted(
                k
                for k in set(desired["settings"]) | set(current["settings"])
                if current["settings"].get(k) != desired["settings"].get(k)
            )
            promoted = self._stage_up(current["settings"].get("stage"), spec.stage)
            after = dict(current) | {"settings": desired["settings"]}
            if promoted:
                self._version_step(
                    name,
                    spec,
                    "promote",
                    spec.version,
                    "stage",
                    current,
                    after,
                    f"stage raised to {spec.stage} ({source})",
                    previous,
                )
            else:
                self.add(
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
        self, spec: m.DeploymentSpec, record: DeploymentRecord | None, stage: str
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
        spec: m.DeploymentSpec,
        current: dict[str, Any],
        after: dict[str, Any],
        source: str,
        previous: str | None,
    ) -> Step:
        old, new = current["canary"], after["canary"]
        if new is None:
            return self.add(
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
                return self.add(
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
        spec: m.DeploymentSpec,
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
        register = self.register_ids.get((spec.model, version))
        if register:
            depends.append(register)
        gates: list[GateResult] = []
        blocked: list[str] = []
        if action != "rollback":
            gates = self._gates(spec, version)
            blocked += [f"gate {g.describe()}" for g in gates if not g.passed]
            need = self._stage_need(spec, version)
            if need is not None:
                self.needs[f"{action}:Deployment/{name}@{version}:{role}"] = need
        step = self.add(
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

    def _gates(self, spec: m.DeploymentSpec, version: str) -> list[GateResult]:
        entry = self.manifest.version(spec.model, version)
        offline = dict(entry.metrics) if entry else {}
        observed: Mapping[str, Observed] = self.inputs.observations.get((spec.model, version), {})
        source = f"offline metrics in {self.manifest.sources.get(f'Model/{spec.model}', 'spec')}"
        return evaluate(
            spec.promotion.gates,
            version=version,
            offline=offline,
            observed=observed,
            offline_source=source,
        )

    def _stage_need(self, spec: m.DeploymentSpec, version: str) -> StageKey | None:
        """The requires_stage the recorded history does not meet yet."""
        needed = spec.promotion.requires_stage
        if needed is None or needed == spec.stage:
            return None
        record = self.state.models.get(spec.model)
        entry = record.versions.get(version) if record else None
        if entry is not None and needed in entry.stages:
            return None
        return spec.model, version, needed

    def _undeploy(self, name: str, record: DeploymentRecord) -> None:
        allowed = self.manifest.project.spec.prune or name in self.inputs.tombstones
        how = (
            "its file was removed; to undeploy, replace the file with a Tombstone "
            f"(kind: Tombstone, metadata.name: {name}, spec.kind: Deployment) "
            "or set spec.prune: true in mlops.yaml"
        )
        reason = "replaced by a tombstone" if name in self.inputs.tombstones else "file removed"
        self.add(
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

    # ------------------------------------------------------------ ordering

    def _model_of(self, deployment: str) -> str | None:
        desired = self.manifest.deployments.get(deployment)
        if desired is not None:
            return desired.spec.model
        record = self.state.deployments.get(deployment)
        return record.model if record else None

    def link_retirements(self) -> None:
        """A version retires only after every deployment has moved off it."""
        retiring = [sid for sid, s in self.steps.items() if s.action == "retire"]
        if not retiring:
            return
        touched: set[str] = set()
        users: dict[tuple[str | None, str], list[str]] = {}
        for other in self.steps.values():
            if other.object.kind != "Deployment":
                continue
            touched.add(other.object.name)
            if other.before is None:
                continue
            # The model the deployment served before this step (it may switch models).
            model = other.before.get("model") or self._model_of(other.object.name)
            canary = other.before.get("canary") or {}
            for version in {other.before.get("version"), canary.get("version")} - {None}:
                users.setdefault((model, str(version)), []).append(other.id)
        serving: dict[tuple[str, str], list[str]] = {}
        for name, record in sorted(self.state.deployments.items()):
            if record.status != "deployed" or name in touched:
                continue
            for version in {record.version} | ({record.canary.version} if record.canary else set()):
                serving.setdefault((record.model, version), []).append(name)
        for step_id in retiring:
            step = self.steps[step_id]
            key = (step.object.name, step.object.version or "")
            blocked = list(step.blocked_by)
            blocked += [f"Deployment/{name} still serves {key[1]}" for name in serving.get(key, [])]
            self.steps[step_id] = replace(
                step,
                depends_on=tuple(sorted(set(step.depends_on) | set(users.get(key, [])))),
                status="blocked" if blocked else step.status,
                blocked_by=tuple(blocked),
            )

    def ordered(self) -> tuple[Step, ...]:
        """Dependency order; among ready candidates, by action rank then object name."""
        known = set(self.steps)
        pending = {sid: set(s.depends_on) & known for sid, s in self.steps.items()}
        children: dict[str, list[str]] = {sid: [] for sid in self.steps}
        for sid, deps in pending.items():
            for dep in deps:
                children[dep].append(sid)

        def key(sid: str) -> tuple[int, str, str]:
            step = self.steps[sid]
            return (_ACTION_RANK[step.action], str(step.object), sid)

        heap = [key(sid) for sid, deps in pending.items() if not deps]
        heapq.heapify(heap)
        order: list[str] = []
        while heap:
            sid = heapq.heappop(heap)[2]
            order.append(sid)
            for child in children[sid]:
                pending[child].discard(sid)
                if not pending[child]:
                    heapq.heappush(heap, key(child))
        assert len(order) == len(self.steps), "dependency cycle in plan"
        out: list[Step] = []
        blocked_ids: set[str] = set()
        for sid in order:
            step = self.steps[sid]
            failed = [d for d in step.depends_on if d in blocked_ids]
            if failed:
                step = replace(
                    step,
                    status="blocked",
                    blocked_by=(
                        *step.blocked_by,
                        *(f"depends on blocked step {d}" for d in failed),
                    ),
                )
            if step.status == "blocked":
                blocked_ids.add(sid)
            out.append(step)
        return tuple(out)


def plan(inputs: PlanInputs) -> Plan:
    # Cycle collections took a fifth of the time of a 30,000-step plan.
    with collector_paused():
        return _plan(inputs)


def _plan(inputs: PlanInputs) -> Plan:
    builder = _Builder(inputs)
    builder.models()
    builder.deployments()
    builder.link_retirements()
    builder.warnings += deprecation_warnings(inputs.manifest, inputs.now)
    builder.steps = enforce_policies(builder.steps, inputs)
    return Plan(
        steps=builder.ordered(),
        base_commit=inputs.base_commit,
        inputs_sha256=inputs.manifest.inputs_sha256,
        lineage=inputs.state.lineage,
        serial=inputs.state.serial,
        now=inputs.now.isoformat(),
        warnings=tuple(builder.warnings),
    )
