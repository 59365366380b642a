"""The pure planner on plain values: every action, every reason to block, order, determinism."""

from __future__ import annotations

import random
from typing import Any

import pytest

from mlops_gitops.compile.manifest import Manifest
from mlops_gitops.plan import digests as plan_digests
from mlops_gitops.plan.digests import VersionDigests
from mlops_gitops.plan.gates import Observed
from mlops_gitops.plan.model import Plan, Step
from mlops_gitops.plan.versions import needs_facts
from mlops_gitops.spec import models as spec_models
from mlops_gitops.state.records import Revision
from mlops_gitops.state.view import StateView
from tests.support.values import (
    NOW,
    deployment,
    deployment_record,
    fact,
    facts_for,
    make_plan,
    manifest,
    model,
    project,
    synced_state,
    tombstone,
    version,
    version_record,
    with_records,
    with_version,
)

M = "m"


def fraud(*versions: str, **metrics: float) -> spec_models.Model:
    """Model `m` whose versions have roc_auc 0.95 unless overridden as v_1_1_0=0.8."""
    entries = []
    for v in versions:
        auc = metrics.get("v_" + v.replace(".", "_"), 0.95)
        entries.append(version(v, metrics={"roc_auc": auc, "accuracy": 0.9}))
    return model(M, *entries)


def by_id(plan: Plan) -> dict[str, Step]:
    return {s.id: s for s in plan.steps}


def ids(plan: Plan) -> list[str]:
    return [s.id for s in plan.steps]


def only(plan: Plan) -> Step:
    assert len(plan.steps) == 1, ids(plan)
    return plan.steps[0]


def assert_dependency_order(plan: Plan) -> None:
    seen: set[str] = set()
    known = {s.id for s in plan.steps}
    for step in plan.steps:
        assert set(step.depends_on) & known <= seen, f"{step.id} before its dependencies"
        seen.add(step.id)


# ---------------------------------------------------------------- register


def test_register_new_version_records_hash_size_format_and_scan() -> None:
    man = manifest([fraud("1.0.0")])
    step = only(make_plan(man))
    assert step.id == "register:Model/m@1.0.0"
    assert step.action == "register"
    assert (step.object.kind, step.object.name, step.object.version) == ("Model", M, "1.0.0")
    assert step.status == "ready" and step.blocked_by == ()
    assert step.before is None
    assert step.after == {
        "sha256": fact(M, "1.0.0").sha256,
        "size": 100,
        "format": "safetensors",
        "source": "artifacts/m/1.0.0/model.bin",
        "scan": "not-needed",
    }
    assert step.reason == "version 1.0.0 added in models/m.yaml"


def test_synced_state_plans_nothing() -> None:
    man = manifest(
        [fraud("1.0.0", "1.1.0")],
        [deployment("prod", M, "1.0.0", canary=("1.1.0", 10), gates={"roc_auc": ">= 0.9"})],
    )
    plan = make_plan(man, synced_state(man), facts={})
    assert plan.empty
    assert plan.summary() == {
        "register": 0,
        "deploy": 0,
        "promote": 0,
        "rollback": 0,
        "retire": 0,
        "update": 0,
        "undeploy": 0,
        "blocked": 0,
    }


def test_archived_version_back_in_the_spec_is_registered_again() -> None:
    man = manifest([fraud("1.0.0", "1.1.0")])
    state = with_version(synced_state(man), M, version_record(man, M, "1.0.0", status="archived"))
    step = only(make_plan(man, state))
    assert step.id == "register:Model/m@1.0.0"
    assert step.status == "ready"
    assert "archived version 1.0.0 is back" in step.reason


# ---------------------------------------------------------------- deploy


def test_new_deployment_is_deployed_after_its_version_is_registered() -> None:
    man = manifest([fraud("1.0.0")], [deployment("prod", M, "1.0.0")])
    plan = make_plan(man)
    assert ids(plan) == ["register:Model/m@1.0.0", "deploy:Deployment/prod@1.0.0:stable"]
    step = plan.steps[1]
    assert step.depends_on == ("register:Model/m@1.0.0",)
    assert step.before is None
    assert step.after is not None
    assert step.after["version"] == "1.0.0" and step.after["canary"] is None
    assert step.after["settings"]["stage"] == "production"
    assert step.reason == "new deployment serving 1.0.0 (deployments/prod.yaml)"


def test_new_deployment_with_canary_deploys_stable_then_canary() -> None:
    man = manifest(
        [fraud("1.0.0", "1.1.0")], [deployment("prod", M, "1.0.0", canary=("1.1.0", 10))]
    )
    state = synced_state(manifest([fraud("1.0.0", "1.1.0")]))
    plan = make_plan(man, state, facts={})
    assert ids(plan) == [
        "deploy:Deployment/prod@1.0.0:stable",
        "deploy:Deployment/prod@1.1.0:canary",
    ]
    stable, canary = plan.steps
    assert canary.depends_on == (stable.id,)
    assert canary.before == stable.after
    assert canary.after is not None and canary.after["canary"] == {
        "version": "1.1.0",
        "traffic": 10,
    }
    assert canary.reason == "canary 1.1.0 at 10% (deployments/prod.yaml)"


def test_canary_added_to_a_running_deployment_is_a_gated_deploy() -> None:
    before = manifest([fraud("1.0.0", "1.1.0")], [deployment("prod", M, "1.0.0")])
    gates = {"roc_auc": ">= 0.9"}
    man = manifest(
        [fraud("1.0.0", "1.1.0")],
        [deployment("prod", M, "1.0.0", canary=("1.1.0", 10), gates=gates)],
    )
    step = only(make_plan(man, synced_state(before), facts={}))
    assert step.id == "deploy:Deployment/prod@1.1.0:canary"
    assert [(g.metric, g.op, g.threshold, g.value, g.passed) for g in step.gates] == [
        ("roc_auc", ">=", 0.9, 0.95, True)
    ]
    assert step.gates[0].source == "offline metrics in models/m.yaml"


def test_new_stable_version_never_served_is_a_deploy() -> None:
    before = manifest([fraud("1.0.0", "1.1.0")], [deployment("prod", M, "1.0.0")])
    man = manifest([fraud("1.0.0", "1.1.0")], [deployment("prod", M, "1.1.0")])
    step = only(make_plan(man, synced_state(before), facts={}))
    assert step.id == "deploy:Deployment/prod@1.1.0:stable"
    assert step.reason == "1.1.0 replaces 1.0.0 (deployments/prod.yaml)"


# ---------------------------------------------------------------- promote


def test_canary_becoming_stable_is_a_promote_with_gates() -> None:
    gates = {"roc_auc": ">= 0.9"}
    before = manifest(
        [fraud("1.0.0", "1.1.0")],
        [deployment("prod", M, "1.0.0", canary=("1.1.0", 50), gates=gates)],
    )
    man = manifest([fraud("1.0.0", "1.1.0")], [deployment("prod", M, "1.1.0", gates=gates)])
    step = only(make_plan(man, synced_state(before), facts={}))
    assert step.id == "promote:Deployment/prod@1.1.0:stable"
    assert step.action == "promote"
    assert step.reason == "canary 1.1.0 becomes stable, replacing 1.0.0 (deployments/prod.yaml)"
    assert step.before is not None and step.before["canary"] == {"version": "1.1.0", "traffic": 50}
    assert step.after is not None and step.after["version"] == "1.1.0"
    assert step.after["canary"] is None
    assert [g.passed for g in step.gates] == [True]


def test_promote_canary_and_start_the_next_canary_in_one_plan() -> None:
    before = manifest(
        [fraud("1.0.0", "1.1.0", "1.2.0")], [deployment("prod", M, "1.0.0", canary=("1.1.0", 50))]
    )
    man = manifest(
        [fraud("1.0.0", "1.1.0", "1.2.0")], [deployment("prod", M, "1.1.0", canary=("1.2.0", 5))]
    )
    plan = make_plan(man, synced_state(before), facts={})
    assert ids(plan) == [
        "promote:Deployment/prod@1.1.0:stable",
        "deploy:Deployment/prod@1.2.0:canary",
    ]
    assert plan.steps[1].depends_on == (plan.steps[0].id,)


def test_version_that_ran_in_a_lower_stage_is_promoted_into_the_higher_one() -> None:
    before = manifest([fraud("1.0.0", "1.1.0")], [deployment("prod", M, "1.0.0")])
    state = synced_state(before)
    state = with_version(
        state,
        M,
        version_record(before, M, "1.1.0", stages={"staging": "2026-02-01T00:00:00+00:00"}),
    )
    man = manifest([fraud("1.0.0", "1.1.0")], [deployment("prod", M, "1.1.0")])
    step = only(make_plan(man, state, facts={}))
    assert step.id == "promote:Deployment/prod@1.1.0:stable"
    assert step.reason == "1.1.0 ran in staging and now enters production (deployments/prod.yaml)"


def test_stage_raised_on_a_deployment_is_a_promote() -> None:
    before = manifest([fraud("1.0.0")], [deployment("web", M, "1.0.0", stage="staging")])
    man = manifest([fraud("1.0.0")], [deployment("web", M, "1.0.0", stage="production")])
    step = only(make_plan(man, synced_state(before), facts={}))
    assert step.id == "promote:Deployment/web@1.0.0:stage"
    assert step.reason == "stage raised to production (deployments/web.yaml)"
    assert step.after is not None and step.after["settings"]["stage"] == "production"


def test_stage_lowered_is_a_settings_update() -> None:
    before = manifest([fraud("1.0.0")], [deployment("web", M, "1.0.0", stage="production")])
    man = manifest([fraud("1.0.0")], [deployment("web", M, "1.0.0", stage="staging")])
    step = only(make_plan(man, synced_state(before), facts={}))
    assert step.id == "update:Deployment/web:settings"
    assert step.reason == "stage changed (deployments/web.yaml)"


# ---------------------------------------------------------------- rollback


def test_return_to_a_version_served_before_is_an_ungated_rollback() -> None:
    failing = {"roc_auc": ">= 0.99", "latency_p99_ms": "< 100"}
    current = deployment("prod", M, "1.1.0", gates=failing, requires_stage="staging")
    models = [fraud("1.0.0", "1.1.0")]
    state = synced_state(manifest(models))
    state = with_records(state, deployments=[deployment_record(current, history=["1.0.0"])])
    man = manifest(
        models, [deployment("prod", M, "1.0.0", gates=failing, requires_stage="staging")]
    )
    step = only(make_plan(man, state, facts={}))
    assert step.id == "rollback:Deployment/prod@1.0.0:stable"
    assert step.action == "rollback"
    assert step.status == "ready"
    assert step.gates == ()
    assert step.reason == "returns to 1.0.0, served before (was 1.1.0) (deployments/prod.yaml)"


def test_rollback_that_also_drops_the_canary() -> None:
    models = [fraud("1.0.0", "1.1.0", "1.2.0")]
    current = deployment("prod", M, "1.1.0", canary=("1.2.0", 20))
    state = with_records(
        synced_state(manifest(models)), deployments=[deployment_record(current, history=["1.0.0"])]
    )
    man = manifest(models, [deployment("prod", M, "1.0.0")])
    step = only(make_plan(man, state, facts={}))
    assert step.action == "rollback"
    assert step.after is not None and step.after["canary"] is None


# ---------------------------------------------------------------- retire


def test_version_removed_from_the_spec_is_retired_and_archived() -> None:
    before = manifest([fraud("1.0.0", "1.1.0")])
    man = manifest([fraud("1.1.0")])
    state = synced_state(before)
    step = only(make_plan(man, state, facts={}))
    assert step.id == "retire:Model/m@1.0.0"
    assert step.action == "retire"
    assert step.status == "ready"
    assert step.before == {"status": "registered"}
    assert step.after == {"status": "archived", "blob": state.models[M].versions["1.0.0"].blob}
    assert "archived, not deleted" in step.reason


def test_removed_model_retires_every_registered_version() -> None:
    state = synced_state(manifest([fraud("1.0.0", "1.1.0")]))
    plan = make_plan(manifest(), state, facts={})
    assert ids(plan) == ["retire:Model/m@1.0.0", "retire:Model/m@1.1.0"]
    assert all(s.reason.startswith("the model was removed") for s in plan.steps)


def test_archived_versions_are_not_retired_again() -> None:
    before = manifest([fraud("1.0.0", "1.1.0")])
    state = with_version(
        synced_state(before), M, version_record(before, M, "1.0.0", status="archived")
    )
    assert make_plan(manifest([fraud("1.1.0")]), state, facts={}).empty


def test_retire_waits_for_the_deployment_moving_off_the_version() -> None:
    before = manifest([fraud("1.0.0", "1.1.0")], [deployment("prod", M, "1.0.0")])
    man = manifest([fraud("1.1.0")], [deployment("prod", M, "1.1.0")])
    plan = make_plan(man, synced_state(before), facts={})
    assert ids(plan) == ["deploy:Deployment/prod@1.1.0:stable", "retire:Model/m@1.0.0"]
    assert plan.steps[1].depends_on == ("deploy:Deployment/prod@1.1.0:stable",)
    assert plan.steps[1].status == "ready"


def test_retire_is_blocked_while_a_deployment_still_serves_the_version() -> None:
    # The deployment moves to 1.1.0 in the spec but is suspended, so nothing moves it off 1.0.0.
    before = manifest([fraud("1.0.0", "1.1.0")], [deployment("prod", M, "1.0.0")])
    man = manifest([fraud("1.1.0")], [deployment("prod", M, "1.1.0", suspend=True)])
    plan = make_plan(man, synced_state(before), facts={})
    step = only(plan)
    assert step.id == "retire:Model/m@1.0.0"
    assert step.status == "blocked"
    assert step.blocked_by == ("Deployment/prod still serves 1.0.0",)
    assert plan.warnings == ("Deployment/prod is suspended: its changes are not planned",)


def test_retire_of_a_canary_version_still_served_is_blocked() -> None:
    before = manifest(
        [fraud("1.0.0", "1.1.0")], [deployment("prod", M, "1.0.0", canary=("1.1.0", 10))]
    )
    man = manifest([fraud("1.0.0")], [deployment("prod", M, "1.0.0", suspend=True)])
    step = only(make_plan(man, synced_state(before), facts={}))
    assert step.status == "blocked"
    assert step.blocked_by == ("Deployment/prod still serves 1.1.0",)


def test_retire_waits_for_a_blocked_move_and_is_blocked_with_it() -> None:
    before = manifest([fraud("1.0.0", "1.1.0")], [deployment("prod", M, "1.0.0")])
    man = manifest(
        [fraud("1.1.0", v_1_1_0=0.5)], [deployment("prod", M, "1.1.0", gates={"roc_auc": ">= 0.9"})]
    )
    plan = make_plan(man, synced_state(before), facts={})
    steps = by_id(plan)
    assert steps["deploy:Deployment/prod@1.1.0:stable"].status == "blocked"
    retire = steps["retire:Model/m@1.0.0"]
    assert retire.status == "blocked"
    assert retire.blocked_by == ("depends on blocked step deploy:Deployment/prod@1.1.0:stable",)


# ---------------------------------------------------------------- update


def test_canary_traffic_raised_is_a_gated_update() -> None:
    gates = {"roc_auc": ">= 0.9"}
    before = manifest(
        [fraud("1.0.0", "1.1.0")],
        [deployment("prod", M, "1.0.0", canary=("1.1.0", 10), gates=gates)],
    )
    man = manifest(
        [fraud("1.0.0", "1.1.0")],
        [deployment("prod", M, "1.0.0", canary=("1.1.0", 50), gates=gates)],
    )
    step = only(make_plan(man, synced_state(before), facts={}))
    assert step.id == "update:Deployment/prod@1.1.0:canary"
    assert step.action == "update"
    assert step.reason == "canary traffic 10% -> 50% (deployments/prod.yaml)"
    assert len(step.gates) == 1 and step.gates[0].passed


def test_canary_traffic_lowered_is_an_ungated_update() -> None:
    gates = {"roc_auc": ">= 0.99"}  # fails, but lowering exposure is never gated
    before = manifest(
        [fraud("1.0.0", "1.1.0")],
        [deployment("prod", M, "1.0.0", canary=("1.1.0", 50), gates=gates)],
    )
    man = manifest(
        [fraud("1.0.0", "1.1.0")],
        [deployment("prod", M, "1.0.0", canary=("1.1.0", 0), gates=gates)],
    )
    step = only(make_plan(man, synced_state(before), facts={}))
    assert step.id == "update:Deployment/prod:canary"
    assert step.status == "ready" and step.gates == ()
    assert step.after is not None and step.after["canary"] == {"version": "1.1.0", "traffic": 0}


def test_canary_removed_is_an_ungated_update() -> None:
    gates = {"roc_auc": ">= 0.99"}
    before = manifest(
        [fraud("1.0.0", "1.1.0")],
        [deployment("prod", M, "1.0.0", canary=("1.1.0", 50), gates=gates)],
    )
    man = manifest([fraud("1.0.0", "1.1.0")], [deployment("prod", M, "1.0.0", gates=gates)])
    step = only(make_plan(man, synced_state(before), facts={}))
    assert step.id == "update:Deployment/prod:canary"
    assert step.reason == "canary 1.1.0 removed (deployments/prod.yaml)"
    assert step.status == "ready"
    assert step.after is not None and step.after["canary"] is None


def test_settings_change_is_an_update_naming_the_fields() -> None:
    before = manifest([fraud("1.0.0")], [deployment("prod", M, "1.0.0")])
    man = manifest(
        [fraud("1.0.0")],
        [
            deployment(
                "prod",
                M,
                "1.0.0",
                resources={"cpu": "2"},
                scaling={"min_replicas": 2, "max_replicas": 4},
            )
        ],
    )
    step = only(make_plan(man, synced_state(before), facts={}))
    assert step.id == "update:Deployment/prod:settings"
    assert step.object.version is None
    assert step.reason == "resources, scaling changed (deployments/prod.yaml)"
    assert step.after is not None
    assert step.after["settings"]["scaling"] == {"min_replicas": 2, "max_replicas": 4}


def test_version_metadata_change_is_an_update_of_the_model_version() -> None:
    before = manifest([fraud("1.0.0")])
    man = manifest([model(M, version("1.0.0", metrics={"roc_auc": 0.97}, author="carol"))])
    facts = {(M, "1.0.0"): fact(M, "1.0.0")}
    step = only(make_plan(man, synced_state(before), facts=facts))
    assert step.id == "update:Model/m@1.0.0"
    assert step.status == "ready"
    assert step.reason == "the spec entry of version 1.0.0 changed"
    assert step.before is not None and step.before["metrics"] == {"roc_auc": 0.95, "accuracy": 0.9}
    assert step.after is not None and step.after["metrics"] == {"roc_auc": 0.97}
    assert step.after["sha256"] == step.before["sha256"]


def test_metadata_update_with_a_changed_artifact_is_blocked_as_immutable() -> None:
    before = manifest([fraud("1.0.0")])
    man = manifest([model(M, version("1.0.0", metrics={"roc_auc": 0.97}))])
    facts = {(M, "1.0.0"): fact(M, "1.0.0", sha256="f" * 64)}
    step = only(make_plan(man, synced_state(before), facts=facts))
    assert step.id == "update:Model/m@1.0.0"
    assert step.status == "blocked"
    assert "is immutable" in step.blocked_by[0]
    assert "publish the change as a new version" in step.blocked_by[0]


def test_each_version_is_hashed_once_per_plan_and_no_plan_reuses_another_s_digests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = manifest([fraud("1.0.0", "1.1.0")])
    state = synced_state(before)
    man = manifest([model(M, version("1.0.0", metrics={"roc_auc": 0.97}), version("1.1.0"))])
    hashed: list[str] = []
    real = plan_digests.dumps  # type: ignore[attr-defined]

    def counting(data: Any, **kwargs: Any) -> str:
        hashed.append(data["version"])
        return real(data, **kwargs)

    monkeypatch.setattr(plan_digests, "dumps", counting)
    digests = VersionDigests()
    wanted = needs_facts(man, state, digests)
    assert [(name, v) for name, v, _ in wanted] == [(M, "1.0.0"), (M, "1.1.0")]
    plan = make_plan(man, state, digests=digests)
    assert ids(plan) == ["update:Model/m@1.0.0", "update:Model/m@1.1.0"]
    assert sorted(hashed) == ["1.0.0", "1.1.0"]  # needs_facts' digests served the plan
    hashed.clear()
    assert make_plan(man, state) == plan
    assert sorted(hashed) == ["1.0.0", "1.1.0"]  # a new plan remembers nothing of the last


# ---------------------------------------------------------------- undeploy


def _removed_deployment_state() -> tuple[list[spec_models.Model], StateView]:
    models = [fraud("1.0.0")]
    before = manifest(models, [deployment("old", M, "1.0.0")])
    return models, synced_state(before)


def test_removed_deployment_is_undeployed_when_the_project_prunes() -> None:
    models, state = _removed_deployment_state()
    man = manifest(models, proj=project(prune=True))
    step = only(make_plan(man, state, facts={}))
    assert step.id == "undeploy:Deployment/old"
    assert step.action == "undeploy"
    assert step.status == "ready"
    assert step.reason == "file removed"
    assert step.after is None
    assert step.before is not None and step.before["version"] == "1.0.0"


def test_removed_deployment_is_undeployed_when_replaced_by_a_tombstone() -> None:
    models, state = _removed_deployment_state()
    man = manifest(models, tombstones=[tombstone("old")])
    step = only(make_plan(man, state, facts={}, tombstones=frozenset({"old"})))
    assert step.status == "ready"
    assert step.reason == "replaced by a tombstone"


def test_removed_deployment_without_prune_or_tombstone_is_blocked_with_how() -> None:
    models, state = _removed_deployment_state()
    step = only(make_plan(manifest(models), state, facts={}))
    assert step.id == "undeploy:Deployment/old"
    assert step.status == "blocked"
    (how,) = step.blocked_by
    assert "kind: Tombstone" in how and "spec.prune: true" in how


def test_undeployed_record_is_not_undeployed_again_and_can_come_back() -> None:
    models = [fraud("1.0.0")]
    dep = deployment("old", M, "1.0.0")
    state = with_records(
        synced_state(manifest(models)),
        deployments=[deployment_record(dep, status="undeployed")],
    )
    assert make_plan(manifest(models), state, facts={}).empty
    step = only(make_plan(manifest(models, [dep]), state, facts={}))
    assert step.id == "deploy:Deployment/old@1.0.0:stable"
    assert step.reason.startswith("new deployment serving 1.0.0")


# ---------------------------------------------------------------- blocked: artifacts and scans


def _blocked_register(**overrides: object) -> Step:
    man = manifest([fraud("1.0.0")], [deployment("prod", M, "1.0.0")])
    facts = facts_for(man)
    facts[(M, "1.0.0")] = fact(M, "1.0.0", **overrides)
    plan = make_plan(man, facts=facts)
    register, deploy = plan.steps
    assert register.status == "blocked"
    assert deploy.status == "blocked"
    assert deploy.blocked_by == ("depends on blocked step register:Model/m@1.0.0",)
    return register


def test_missing_artifact_blocks_register_and_the_deploy_after_it() -> None:
    step = _blocked_register(
        exists=False, sha256=None, size=None, error="artifact artifacts/x not found"
    )
    assert step.blocked_by == ("artifact artifacts/x not found",)


def test_uninspected_artifact_blocks() -> None:
    man = manifest([fraud("1.0.0")])
    step = only(make_plan(man, facts={}))
    assert step.blocked_by == ("artifact artifacts/m/1.0.0/model.bin was not inspected",)


def test_sha256_mismatch_blocks() -> None:
    man = manifest([model(M, version("1.0.0", sha256="a" * 64))])
    step = only(make_plan(man))
    assert step.status == "blocked"
    assert step.blocked_by[0].startswith("sha256 mismatch: the spec says aaaaaaaaaaaa...")


def test_changed_artifact_under_an_existing_version_is_refused() -> None:
    man = manifest([fraud("1.0.0")])
    state = with_version(
        synced_state(man), M, version_record(man, M, "1.0.0", status="archived", sha256="b" * 64)
    )
    step = only(make_plan(man, state))
    assert step.status == "blocked"
    assert step.blocked_by[0].startswith(
        "version 1.0.0 is immutable: it was registered with sha256 bbbbbbbbbbbb..."
    )


def test_unsafe_scan_blocks_with_the_findings() -> None:
    step = _blocked_register(
        scan_verdict="unsafe", scanner="picklescan", scan_findings=("dangerous global os.system",)
    )
    assert step.blocked_by == (
        "security scan (picklescan) found unsafe content: dangerous global os.system",
    )


def test_scan_error_blocks() -> None:
    step = _blocked_register(
        scan_verdict="error", scanner="picklescan", scan_findings=("cannot parse: truncated",)
    )
    assert step.blocked_by == (
        "security scan (picklescan) could not check artifacts/m/1.0.0/model.bin:"
        " cannot parse: truncated",
    )


def test_every_artifact_problem_is_listed() -> None:
    man = manifest([model(M, version("1.0.0", sha256="a" * 64))])
    facts = {(M, "1.0.0"): fact(M, "1.0.0", scan_verdict="unsafe", scanner="picklescan")}
    step = only(make_plan(man, facts=facts))
    assert len(step.blocked_by) == 2
    assert "no details" in step.blocked_by[1]


# ---------------------------------------------------------------- blocked: gates and stages


def test_failed_gate_blocks_and_shows_the_number() -> None:
    man = manifest(
        [fraud("1.0.0", v_1_0_0=0.8)], [deployment("prod", M, "1.0.0", gates={"roc_auc": ">= 0.9"})]
    )
    plan = make_plan(man, synced_state(manifest([fraud("1.0.0", v_1_0_0=0.8)])), facts={})
    step = only(plan)
    assert step.status == "blocked"
    (gate,) = step.gates
    assert gate.to_json() == {
        "metric": "roc_auc",
        "op": ">=",
        "threshold": 0.9,
        "value": 0.8,
        "source": "offline metrics in models/m.yaml",
        "passed": False,
        "version": "1.0.0",
    }
    assert step.blocked_by == (
        "gate roc_auc >= 0.9: 0.8 (offline metrics in models/m.yaml) FAILED",
    )


def test_gate_on_a_metric_nobody_recorded_fails() -> None:
    models = [fraud("1.0.0")]
    man = manifest(models, [deployment("prod", M, "1.0.0", gates={"f1": ">= 0.5"})])
    step = only(make_plan(man, synced_state(manifest(models)), facts={}))
    (gate,) = step.gates
    assert (gate.value, gate.source, gate.passed) == (None, "no metric recorded", False)
    assert step.blocked_by == ("gate f1 >= 0.5: no value (no metric recorded) FAILED",)


def test_observed_metrics_win_over_offline_ones() -> None:
    models = [fraud("1.0.0", "1.1.0")]
    before = manifest(models, [deployment("prod", M, "1.0.0", canary=("1.1.0", 10))])
    gates = {"roc_auc": ">= 0.9", "error_rate": "< 0.02"}
    man = manifest(models, [deployment("prod", M, "1.0.0", canary=("1.1.0", 40), gates=gates)])
    report = "reports/prod/latest.json"
    observations = {
        (M, "1.1.0"): {"roc_auc": Observed(0.85, report), "error_rate": Observed(0.01, report)}
    }
    step = only(make_plan(man, synced_state(before), facts={}, observations=observations))
    assert step.status == "blocked"
    assert [(g.metric, g.value, g.source, g.passed) for g in step.gates] == [
        ("error_rate", 0.01, report, True),
        ("roc_auc", 0.85, report, False),
    ]


def test_failed_gate_blocks_only_that_step_and_its_dependents() -> None:
    models = [fraud("1.0.0", "1.1.0", v_1_1_0=0.5)]
    gates = {"roc_auc": ">= 0.9"}
    before = manifest(models, [deployment("a", M, "1.0.0", gates=gates)])
    man = manifest(
        models,
        [
            deployment("a", M, "1.0.0", canary=("1.1.0", 10), gates=gates, resources={"cpu": "2"}),
            deployment("b", M, "1.0.0", gates=gates),
        ],
    )
    plan = make_plan(man, synced_state(before), facts={})
    assert ids(plan) == [
        "deploy:Deployment/a@1.1.0:canary",
        "update:Deployment/a:settings",
        "deploy:Deployment/b@1.0.0:stable",
    ]
    canary, settings, other = plan.steps
    assert canary.status == "blocked"
    # Steps on one deployment form a chain: the settings change waits for the canary.
    assert settings.status == "blocked"
    assert settings.blocked_by == ("depends on blocked step deploy:Deployment/a@1.1.0:canary",)
    assert other.status == "ready"


def test_requires_stage_unmet_blocks() -> None:
    models = [fraud("1.0.0")]
    man = manifest(models, [deployment("prod", M, "1.0.0", requires_stage="staging")])
    step = only(make_plan(man, synced_state(manifest(models)), facts={}))
    assert step.status == "blocked"
    assert step.blocked_by == (
        "requires_stage staging: version 1.0.0 has not served a staging deployment",
    )


def test_requires_stage_met_by_the_recorded_history() -> None:
    models = [fraud("1.0.0")]
    base = manifest(models)
    state = with_version(
        synced_state(base), M, version_record(base, M, "1.0.0", stages={"staging": NOW})
    )
    man = manifest(models, [deployment("prod", M, "1.0.0", requires_stage="staging")])
    step = only(make_plan(man, state, facts={}))
    assert step.status == "ready"
    assert step.action == "promote"  # it ran in staging, a lower stage


def test_requires_stage_met_by_a_step_in_the_same_plan() -> None:
    models = [fraud("1.0.0")]
    man = manifest(
        models,
        [
            deployment("a-prod", M, "1.0.0", requires_stage="staging"),
            deployment("z-staging", M, "1.0.0", stage="staging"),
        ],
    )
    plan = make_plan(man, synced_state(manifest(models)), facts={})
    # The staging deployment comes first although its name sorts last.
    assert ids(plan) == [
        "deploy:Deployment/z-staging@1.0.0:stable",
        "promote:Deployment/a-prod@1.0.0:stable",
    ]
    prod = plan.steps[1]
    assert prod.status == "ready"
    assert prod.depends_on == ("deploy:Deployment/z-staging@1.0.0:stable",)
    assert prod.reason.startswith("1.0.0 enters staging first in this plan, then production")


def test_promotion_through_a_lower_stage_is_named_alike_in_one_apply_or_two() -> None:
    """The action of a step may not depend on how the applies were split (or interrupted)."""
    models = [fraud("1.0.0")]
    staging = deployment("staging", M, "1.0.0", stage="staging")
    prod = deployment("prod", M, "1.0.0")
    registered = synced_state(manifest(models))
    together = make_plan(manifest(models, [staging, prod]), registered, facts={})
    after_staging = synced_state(manifest(models, [staging]))
    apart = make_plan(manifest(models, [staging, prod]), after_staging, facts={})
    assert ids(together)[-1] == ids(apart)[-1] == "promote:Deployment/prod@1.0.0:stable"


def test_requires_stage_in_the_same_plan_is_unmet_when_that_step_is_blocked() -> None:
    models = [fraud("1.0.0", v_1_0_0=0.5)]
    man = manifest(
        models,
        [
            deployment("prod", M, "1.0.0", requires_stage="staging"),
            deployment("staging", M, "1.0.0", stage="staging", gates={"roc_auc": ">= 0.9"}),
        ],
    )
    steps = by_id(make_plan(man, synced_state(manifest(models)), facts={}))
    assert steps["deploy:Deployment/staging@1.0.0:stable"].status == "blocked"
    prod = steps["deploy:Deployment/prod@1.0.0:stable"]
    assert prod.status == "blocked"
    assert prod.blocked_by == (
        "requires_stage staging: version 1.0.0 has not served a staging deployment (the step "
        "that would put it there, deploy:Deployment/staging@1.0.0:stable, will not run)",
    )


def test_a_step_depending_on_a_blocked_step_is_blocked_transitively() -> None:
    man = manifest(
        [fraud("1.0.0", "1.1.0")],
        [
            deployment("prod", M, "1.1.0", requires_stage="staging"),
            deployment("staging", M, "1.0.0", stage="staging", canary=("1.1.0", 20)),
        ],
    )
    facts = facts_for(man, **{"m@1.0.0": fact(M, "1.0.0", exists=False, error="gone")})
    steps = by_id(make_plan(man, facts=facts))
    assert steps["register:Model/m@1.0.0"].blocked_by == ("gone",)
    stable = steps["deploy:Deployment/staging@1.0.0:stable"]
    assert stable.blocked_by == ("depends on blocked step register:Model/m@1.0.0",)
    canary = steps["deploy:Deployment/staging@1.1.0:canary"]
    assert canary.status == "blocked"
    assert canary.blocked_by == ("depends on blocked step deploy:Deployment/staging@1.0.0:stable",)
    # The staging canary will not run, so it cannot satisfy production's requires_stage.
    prod = steps["deploy:Deployment/prod@1.1.0:stable"]
    assert prod.blocked_by == (
        "requires_stage staging: version 1.1.0 has not served a staging deployment (the step "
        "that would put it there, deploy:Deployment/staging@1.1.0:canary, will not run)",
    )


def test_lower_stage_entry_that_will_not_run_is_passed_over() -> None:
    """Found by Hypothesis: an entry ready on its own but behind a blocked step is no entry."""
    models = [fraud("1.0.0", "1.1.0", v_1_0_0=0.5)]
    gates = {"roc_auc": ">= 0.9"}
    man = manifest(
        models,
        [
            deployment("a-dev", M, "1.0.0", stage="development", canary=("1.1.0", 10), gates=gates),
            deployment("b-dev", M, "1.1.0", stage="development"),
            deployment("staging", M, "1.1.0", stage="staging"),
        ],
    )
    steps = by_id(make_plan(man, synced_state(manifest(models)), facts={}))
    assert steps["deploy:Deployment/a-dev@1.1.0:canary"].status == "blocked"
    staging = steps["promote:Deployment/staging@1.1.0:stable"]
    assert staging.status == "ready"
    assert staging.depends_on == ("deploy:Deployment/b-dev@1.1.0:stable",)


def test_suspended_deployment_plans_nothing_but_warns() -> None:
    models = [fraud("1.0.0", "1.1.0")]
    before = manifest(models, [deployment("prod", M, "1.0.0")])
    man = manifest(models, [deployment("prod", M, "1.1.0", suspend=True)])
    plan = make_plan(man, synced_state(before), facts={})
    assert plan.empty
    assert plan.warnings == ("Deployment/prod is suspended: its changes are not planned",)


# ---------------------------------------------------------------- order and determinism


def _busy_inputs() -> tuple[Manifest, StateView]:
    models = [
        fraud("1.0.0", "1.1.0", "1.2.0"),
        model("beta", "2.0.0", "2.1.0"),
        model("alpha", "0.1.0"),
    ]
    before = manifest(
        [fraud("0.9.0", "1.0.0", "1.1.0"), model("beta", "2.0.0")],
        [
            deployment("prod", M, "1.0.0", canary=("1.1.0", 10)),
            deployment("beta-web", "beta", "2.0.0"),
            deployment("gone", M, "0.9.0"),
        ],
    )
    state = synced_state(before)
    man = manifest(
        models,
        [
            deployment("prod", M, "1.1.0", canary=("1.2.0", 5)),
            deployment("staging", M, "1.2.0", stage="staging"),
            deployment("beta-web", "beta", "2.1.0", canary=("2.0.0", 10)),
            deployment("alpha-web", "alpha", "0.1.0", stage="development"),
        ],
        proj=project(prune=True),
    )
    return man, state


def test_order_is_by_dependency_then_action_then_name() -> None:
    man, state = _busy_inputs()
    plan = make_plan(man, state)
    assert ids(plan) == [
        "register:Model/alpha@0.1.0",
        "register:Model/beta@2.1.0",
        "register:Model/m@1.2.0",
        "deploy:Deployment/alpha-web@0.1.0:stable",
        "deploy:Deployment/beta-web@2.1.0:stable",
        "deploy:Deployment/beta-web@2.0.0:canary",
        "deploy:Deployment/staging@1.2.0:stable",
        "promote:Deployment/prod@1.1.0:stable",
        "deploy:Deployment/prod@1.2.0:canary",
        "undeploy:Deployment/gone",
        "retire:Model/m@0.9.0",
    ]
    assert_dependency_order(plan)
    assert all(s.status == "ready" for s in plan.steps)
    assert plan.summary()["deploy"] == 5


def test_plan_is_deterministic_whatever_the_order_of_the_inputs() -> None:
    man, state = _busy_inputs()
    expected = make_plan(man, state).to_json()
    rng = random.Random(7)
    for _ in range(5):
        models = list(man.models.items())
        deps = list(man.deployments.items())
        rng.shuffle(models)
        rng.shuffle(deps)
        shuffled = manifest([v for _, v in models], [v for _, v in deps], proj=man.project)
        srecords = list(state.models.values())
        sdeps = list(state.deployments.values())
        rng.shuffle(srecords)
        rng.shuffle(sdeps)
        sstate = StateView(
            models={r.name: r for r in srecords},
            deployments={r.name: r for r in sdeps},
            meta=state.meta,
        )
        assert make_plan(shuffled, sstate).to_json() == expected


def test_plan_json_round_trips() -> None:
    man, state = _busy_inputs()
    plan = make_plan(man, state, base_commit="c" * 40)
    data = plan.to_json()
    assert data["format_version"] == "1"
    assert data["state"] == {"lineage": state.lineage, "serial": 1}
    assert data["base_commit"] == "c" * 40
    again = Plan.from_json(data)
    assert again == plan
    assert set(data["steps"][0]) >= {
        "id",
        "action",
        "object",
        "status",
        "reason",
        "before",
        "after",
        "gates",
        "depends_on",
    }


@pytest.mark.parametrize("history", [["1.0.0"], ["1.0.0", "1.1.0", "1.0.0"]])
def test_rollback_is_recognised_from_any_point_of_the_history(history: list[str]) -> None:
    models = [fraud("1.0.0", "1.1.0", "1.2.0")]
    current = deployment("prod", M, "1.2.0")
    record = deployment_record(current, history=history)
    assert [r.version for r in record.history] == [*history, "1.2.0"]
    assert all(isinstance(r, Revision) for r in record.history)
    state = with_records(synced_state(manifest(models)), deployments=[record])
    step = only(make_plan(manifest(models, [deployment("prod", M, "1.0.0")]), state, facts={}))
    assert step.action == "rollback"


# ---------------------------------------------------------------- a deployment switching models


def test_deployment_switching_to_another_model_is_a_new_deploy() -> None:
    models = [fraud("1.0.0"), model("other", version("1.0.0", metrics={"roc_auc": 0.95}))]
    before = manifest(models, [deployment("prod", M, "1.0.0")])
    man = manifest(models, [deployment("prod", "other", "1.0.0")])
    step = only(make_plan(man, synced_state(before), facts={}))
    assert step.id == "deploy:Deployment/prod@1.0.0:stable"
    assert step.reason == "now serves model other 1.0.0 (was m 1.0.0) (deployments/prod.yaml)"
    assert step.before is not None and step.before["model"] == M
    assert step.after is not None and step.after["model"] == "other"


def test_a_version_served_under_another_model_is_no_rollback() -> None:
    models = [fraud("1.0.0", "2.0.0"), model("other", "1.0.0", "2.0.0")]
    current = deployment("prod", M, "2.0.0")
    state = with_records(
        synced_state(manifest(models)), deployments=[deployment_record(current, history=["1.0.0"])]
    )
    man = manifest(models, [deployment("prod", "other", "1.0.0")])
    step = only(make_plan(man, state, facts={}))
    assert step.action == "deploy"


def test_a_ready_lower_stage_entry_counts_even_after_a_blocked_one() -> None:
    models = [fraud("1.0.0")]
    man = manifest(
        models,
        [
            deployment("a-dev", M, "1.0.0", stage="development", gates={"f1": ">= 0.5"}),
            deployment("b-dev", M, "1.0.0", stage="development"),
            deployment("prod", M, "1.0.0", requires_stage="development"),
        ],
    )
    steps = by_id(make_plan(man, synced_state(manifest(models)), facts={}))
    assert steps["deploy:Deployment/a-dev@1.0.0:stable"].status == "blocked"
    prod = steps["promote:Deployment/prod@1.0.0:stable"]
    assert prod.status == "ready"
    assert prod.depends_on == ("deploy:Deployment/b-dev@1.0.0:stable",)


def test_stage_entered_is_the_one_the_step_leaves_the_deployment_in() -> None:
    """A version deployed while the deployment is still in development, then raised."""
    models = [fraud("1.0.0", "1.1.0")]
    before = manifest(models, [deployment("web", M, "1.0.0", stage="development")])
    man = manifest(
        models,
        [
            deployment("web", M, "1.1.0", stage="staging"),
            deployment("web2", M, "1.1.0", stage="staging"),
        ],
    )
    plan = make_plan(man, synced_state(before), facts={})
    assert ids(plan) == [
        "deploy:Deployment/web@1.1.0:stable",
        "promote:Deployment/web@1.1.0:stage",
        "promote:Deployment/web2@1.1.0:stable",
    ]
    assert "1.1.0 enters development first in this plan" in plan.steps[2].reason


def test_retire_waits_for_a_deployment_switching_away_from_the_model() -> None:
    models = [fraud("1.0.0"), model("other", version("2.0.0", metrics={"roc_auc": 0.95}))]
    before = manifest(models, [deployment("prod", M, "1.0.0")])
    man = manifest([models[1]], [deployment("prod", "other", "2.0.0")])
    plan = make_plan(man, synced_state(before), facts={})
    assert ids(plan) == ["deploy:Deployment/prod@2.0.0:stable", "retire:Model/m@1.0.0"]
    assert plan.steps[1].depends_on == ("deploy:Deployment/prod@2.0.0:stable",)
    assert plan.steps[1].status == "ready"


def test_requires_stage_met_by_a_deployment_built_after_it() -> None:
    """A canary entering staging on `b` (still in staging, then raised) meets `a`'s need,
    although `a` sorts first: the plan must say what the apply will find."""
    models = [fraud("1.0.0", "1.1.0")]
    before = manifest(
        models,
        [
            deployment("a", M, "1.0.0", stage="development", canary=("1.1.0", 0)),
            deployment("b", M, "1.0.0", stage="staging"),
        ],
    )
    man = manifest(
        models,
        [
            deployment("a", M, "1.1.0", requires_stage="staging"),
            deployment("b", M, "1.0.0", canary=("1.1.0", 0)),
        ],
    )
    plan = make_plan(man, synced_state(before), facts={})
    assert_dependency_order(plan)
    steps = by_id(plan)
    assert all(step.status == "ready" for step in plan.steps)
    stable = steps["promote:Deployment/a@1.1.0:stable"]
    assert stable.depends_on == ("deploy:Deployment/b@1.1.0:canary",)
    assert stable.reason == (
        "canary 1.1.0 becomes stable, replacing 1.0.0 while the deployment is still in "
        "development; its stage is raised next (deployments/a.yaml)"
    )
    assert steps["promote:Deployment/a@1.1.0:stage"].depends_on == (
        "promote:Deployment/a@1.1.0:stable",
        "deploy:Deployment/b@1.1.0:canary",
    )


def test_blocked_step_is_named_as_the_next_plan_will_name_it() -> None:
    """`b`'s canary puts 1.2.0 into development; `c`'s staging entry is gated out. `a` stays
    blocked by requires_stage, and is a promote now as it will be after the apply."""
    models = [fraud("1.0.0", "1.2.0", v_1_2_0=0.85)]
    before = manifest(
        models,
        [
            deployment("a", M, "1.0.0", stage="development"),
            deployment("b", M, "1.0.0", stage="development"),
        ],
    )
    man = manifest(
        models,
        [
            deployment("a", M, "1.2.0", requires_stage="staging"),
            deployment("b", M, "1.0.0", canary=("1.2.0", 90)),
            deployment("c", M, "1.2.0", stage="staging", gates={"roc_auc": ">= 0.9"}),
        ],
    )
    steps = by_id(make_plan(man, synced_state(before), facts={}))
    stable = steps["promote:Deployment/a@1.2.0:stable"]
    assert stable.status == "blocked"
    assert stable.reason == (
        "1.2.0 enters development first in this plan, then production (deployments/a.yaml)"
    )
    assert stable.depends_on == ("deploy:Deployment/b@1.2.0:canary",)
    assert stable.blocked_by == (
        "requires_stage staging: version 1.2.0 has not served a staging deployment (the step "
        "that would put it there, deploy:Deployment/c@1.2.0:stable, will not run)",
    )
    assert steps["deploy:Deployment/b@1.2.0:canary"].status == "ready"
    # After the apply the version has served development: the same step, same name.
    applied = manifest(
        models,
        [
            deployment("a", M, "1.0.0", stage="development"),
            deployment("b", M, "1.0.0", canary=("1.2.0", 90)),
        ],
    )
    served = version_record(applied, M, "1.2.0", stages={"development": NOW, "production": NOW})
    later = make_plan(man, with_version(synced_state(applied), M, served), facts={})
    assert [s.id for s in later.steps if s.object.name == "a"] == [
        "promote:Deployment/a@1.2.0:stable",
        "promote:Deployment/a@1.2.0:stage",
    ]
    assert all(step.status == "blocked" for step in later.steps)
    assert by_id(later)["promote:Deployment/a@1.2.0:stable"].reason == (
        "1.2.0 ran in development and now heads for production: it replaces 1.0.0 in "
        "development, then its stage is raised (deployments/a.yaml)"
    )
