"""Project policies in the plan: each one blocking and allowing, driven by `now`.

Plain values throughout (specs, recorded state, facts); tests/apply/test_policies_e2e.py
applies example-repo, whose own policies hold its production deployments on the first apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops_gitops.compile.manifest import Manifest
from mlops_gitops.plan.gates import Observed
from mlops_gitops.plan.model import Plan, Step
from mlops_gitops.plan.policies import open_windows
from mlops_gitops.spec import models as spec_models
from mlops_gitops.state.view import StateView
from tests.support import values
from tests.support.values import deployment, manifest, model, state_of

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday
FRIDAY_18 = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)
WEEKEND_FREEZE = {"freeze_windows": [{"cron": "0 18 * * 5", "duration": "60h"}]}


def project(**policies: Any) -> spec_models.Project:
    return values.project(policies=policies, prune=True)


def iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def recorded(
    man: Manifest,
    *,
    stages: Mapping[str, Mapping[str, datetime]] | None = None,
    deployments: Iterable[tuple[spec_models.Deployment, Iterable[str]]] = (),
) -> StateView:
    """Every version of the manifest registered; `stages`: "model@version" -> stage -> since;
    `deployments`: (spec as applied, earlier stable versions)."""
    since = {
        key: {stage: iso(t) for stage, t in seen.items()} for key, seen in (stages or {}).items()
    }
    return state_of(man, deployments=[(d, list(h)) for d, h in deployments], stages=since)


def make_plan(
    man: Manifest,
    state: StateView | None = None,
    *,
    now: datetime = NOW,
    observations: Mapping[tuple[str, str], Mapping[str, Observed]] | None = None,
) -> Plan:
    return values.make_plan(man, state, now=now, observations=observations or {})


def step(result: Plan, part: str) -> Step:
    found = [s for s in result.steps if part in s.id]
    assert len(found) == 1, (part, [s.id for s in result.steps])
    return found[0]


def policy_reasons(item: Step) -> list[str]:
    return [why for why in item.blocked_by if why.startswith("policy ")]


# ---------------------------------------------------------------- stage_order, min_time_in_stage

STAGED = {"stage_order": ["staging", "production"], "min_time_in_stage": "24h"}


def staged_then_prod(since: datetime | None, *, canary: bool = False) -> tuple[Manifest, StateView]:
    """fraud 1.1.0 served staging since `since`; prod (serving 1.0.0) now wants 1.1.0."""
    proj = project(**STAGED)
    prod = deployment("prod", "fraud", "1.0.0", canary=("1.1.0", 10) if canary else None)
    man = manifest([model("fraud", "1.0.0", "1.1.0")], [prod], proj=proj)
    stages = {"fraud@1.0.0": {"staging": NOW - timedelta(days=9), "production": NOW}}
    if since is not None:
        stages["fraud@1.1.0"] = {"staging": since}
    state = recorded(man, stages=stages, deployments=[(deployment("prod", "fraud", "1.0.0"), [])])
    return man_with(man, deployment("prod", "fraud", "1.1.0") if not canary else prod), state


def man_with(man: Manifest, *deployments: spec_models.Deployment) -> Manifest:
    return manifest(man.models.values(), deployments, proj=man.project)


@pytest.mark.parametrize("canary", [False, True], ids=["stable", "canary"])
def test_min_time_in_stage_blocks_until_the_time_has_passed(canary: bool) -> None:
    since = NOW - timedelta(hours=23, minutes=59)
    man, state = staged_then_prod(since, canary=canary)
    early = make_plan(man, state)
    (entering,) = early.steps
    assert entering.status == "blocked"
    assert policy_reasons(entering) == [
        "policy min_time_in_stage 1d, stage_order (staging -> production): fraud 1.1.0 must "
        "serve staging for 1d before entering production; it has served staging since "
        "2026-03-03T12:01:00+00:00 (23h59m), long enough at 2026-03-04T12:01:00+00:00"
    ]
    # Exactly min_time_in_stage later the version may enter; the boundary is inclusive.
    on_time = make_plan(man, state, now=NOW + timedelta(minutes=1))
    assert [(s.status, s.blocked_by) for s in on_time.steps] == [("ready", ())]


def test_min_time_in_stage_needs_the_lower_stage_recorded() -> None:
    man, state = staged_then_prod(None)
    (entering,) = make_plan(man, state, now=NOW + timedelta(days=365)).steps
    assert entering.status == "blocked"
    assert policy_reasons(entering)[0].endswith("; it has not served staging yet")


def test_same_plan_staging_does_not_satisfy_min_time_in_stage() -> None:
    """requires_stage may be met by a staging step of the same plan; min_time_in_stage not."""
    proj = project(**STAGED)
    staging = deployment("staging", "fraud", "1.1.0", stage="staging")
    prod = deployment("prod", "fraud", "1.1.0", requires_stage="staging")
    man = manifest([model("fraud", "1.1.0")], [staging, prod], proj=proj)
    result = make_plan(man, recorded(man))
    assert step(result, "deploy:Deployment/staging").status == "ready"
    blocked = step(result, "promote:Deployment/prod")
    assert blocked.status == "blocked"
    assert policy_reasons(blocked) == [
        "policy min_time_in_stage 1d, stage_order (staging -> production): fraud 1.1.0 must "
        "serve staging for 1d before entering production; it has not served staging yet "
        "(entering staging in this plan does not count)"
    ]
    # After apply, staging is recorded: a day later production may follow.
    later = recorded(
        man,
        stages={"fraud@1.1.0": {"staging": NOW}},
        deployments=[(staging, [])],
    )
    assert step(make_plan(man, later, now=NOW + timedelta(hours=24)), "promote:").status == "ready"


def test_stage_order_without_min_time_accepts_the_lower_stage_in_the_same_plan() -> None:
    proj = project(stage_order=["staging", "production"])
    staging = deployment("staging", "fraud", "1.1.0", stage="staging", canary=None)
    prod = deployment("prod", "fraud", "1.0.0", canary=("1.1.0", 10))
    man = manifest([model("fraud", "1.0.0", "1.1.0")], [staging, prod], proj=proj)
    state = recorded(
        man,
        stages={"fraud@1.0.0": {"staging": NOW, "production": NOW}},
        deployments=[(deployment("prod", "fraud", "1.0.0"), [])],
    )
    result = make_plan(man, state)
    canary = step(result, "deploy:Deployment/prod@1.1.0:canary")
    assert canary.status == "ready"
    assert "deploy:Deployment/staging@1.1.0:stable" in canary.depends_on
    # Without the staging deployment nothing lets 1.1.0 into production.
    alone = make_plan(man_with(man, prod), state)
    (blocked,) = alone.steps
    assert policy_reasons(blocked) == [
        "policy stage_order (staging -> production): fraud 1.1.0 must serve a staging deployment "
        "before entering production; it has not"
    ]


def test_stage_order_gives_the_first_stage_and_unlisted_stages_no_prerequisite() -> None:
    proj = project(**STAGED)
    man = manifest(
        [model("fraud", "1.0.0")],
        [
            deployment("stg", "fraud", "1.0.0", stage="staging"),
            deployment("dev", "fraud", "1.0.0", stage="development"),
        ],
        proj=proj,
    )
    assert [s.status for s in make_plan(man, recorded(man)).steps] == ["ready", "ready"]


def test_min_time_in_stage_applies_to_requires_stage_without_stage_order() -> None:
    proj = project(min_time_in_stage="2h")
    prod = deployment("prod", "fraud", "1.1.0", requires_stage="canary")
    man = manifest([model("fraud", "1.1.0")], [prod], proj=proj)
    state = recorded(man, stages={"fraud@1.1.0": {"canary": NOW - timedelta(hours=1)}})
    (blocked,) = make_plan(man, state).steps
    assert policy_reasons(blocked) == [
        "policy min_time_in_stage 2h, requires_stage of Deployment/prod: fraud 1.1.0 must serve "
        "canary for 2h before entering production; it has served canary since "
        "2026-03-04T11:00:00+00:00 (1h), long enough at 2026-03-04T13:00:00+00:00"
    ]
    assert make_plan(man, state, now=NOW + timedelta(hours=1)).steps[0].status == "ready"


def test_rollbacks_are_exempt_from_stage_policies() -> None:
    """prod served 0.9.0 before 1.0.0; 0.9.0 never served staging, yet it may come back."""
    proj = project(**STAGED)
    man = manifest(
        [model("fraud", "0.9.0", "1.0.0")], [deployment("prod", "fraud", "0.9.0")], proj=proj
    )
    state = recorded(man, deployments=[(deployment("prod", "fraud", "1.0.0"), ["0.9.0"])])
    (rollback,) = make_plan(man, state).steps
    assert (rollback.action, rollback.status, rollback.blocked_by) == ("rollback", "ready", ())


# ---------------------------------------------------------------- production_gates


def gated(task: str, metrics: Mapping[str, float], gates: Mapping[str, str]) -> Manifest:
    proj = project(production_gates=dict(gates))
    mod = model("fraud", "1.0.0", task=task, metrics=metrics)
    return manifest(
        [mod],
        [
            deployment("prod", "fraud", "1.0.0"),
            deployment("stg", "fraud", "1.0.0", stage="staging"),
        ],
        proj=proj,
    )


def test_production_gates_block_a_version_below_the_threshold() -> None:
    man = gated("classification", {"roc_auc": 0.80}, {"roc_auc": ">= 0.85"})
    result = make_plan(man, recorded(man))
    prod = step(result, "Deployment/prod@")
    assert prod.status == "blocked"
    assert policy_reasons(prod) == [
        "policy production_gates: roc_auc >= 0.85 for fraud 1.0.0: 0.8 "
        "(offline metrics in models/fraud.yaml)"
    ]
    (gate,) = prod.gates
    assert (gate.policy, gate.value, gate.passed) == ("production_gates", 0.80, False)
    assert gate.to_json()["policy"] == "production_gates"
    assert gate.describe().endswith("FAILED [policy production_gates]")
    # Only production deployments are gated.
    staging = step(result, "Deployment/stg@")
    assert (staging.status, staging.gates) == ("ready", ())


def test_production_gates_pass_and_observed_numbers_win() -> None:
    man = gated("classification", {"roc_auc": 0.90}, {"roc_auc": ">= 0.85"})
    prod = step(make_plan(man, recorded(man)), "Deployment/prod@")
    assert prod.status == "ready"
    assert [(g.policy, g.passed) for g in prod.gates] == [("production_gates", True)]
    seen = {("fraud", "1.0.0"): {"roc_auc": Observed(0.7, "reports/prod/latest.json")}}
    observed = step(make_plan(man, recorded(man), observations=seen), "Deployment/prod@")
    assert observed.status == "blocked"
    assert observed.gates[0].source == "reports/prod/latest.json"


def test_production_gates_skip_metrics_of_another_task_with_a_warning() -> None:
    man = gated("regression", {"rmse": 40.0}, {"roc_auc": ">= 0.85", "rmse": "< 50"})
    prod = step(make_plan(man, recorded(man)), "Deployment/prod@")
    assert prod.status == "ready"
    assert [(g.metric, g.passed) for g in prod.gates] == [("rmse", True)]
    assert prod.warnings == (
        "policy production_gates: roc_auc >= 0.85 skipped for fraud 1.0.0: roc_auc does not "
        "apply to a regression model",
    )
    # A metric of neither family applies to every model; a missing number fails.
    man = gated("regression", {"rmse": 40.0}, {"error_rate": "< 0.05"})
    prod = step(make_plan(man, recorded(man)), "Deployment/prod@")
    assert prod.status == "blocked"
    assert "no value (no metric recorded)" in policy_reasons(prod)[0]


# ---------------------------------------------------------------- max_canary_step


def canary_plan(before: tuple[str, int] | None, after: tuple[str, int] | None, **kw: Any) -> Plan:
    proj = project(max_canary_step=25, **kw)
    man = manifest([model("fraud", "1.0.0", "1.1.0", "1.2.0")], proj=proj)
    state = recorded(man, deployments=[(deployment("prod", "fraud", "1.0.0", canary=before), [])])
    return make_plan(man_with(man, deployment("prod", "fraud", "1.0.0", canary=after)), state)


def test_max_canary_step_blocks_a_rise_above_the_limit() -> None:
    (rise,) = canary_plan(("1.1.0", 10), ("1.1.0", 50)).steps
    assert rise.status == "blocked"
    assert policy_reasons(rise) == [
        "policy max_canary_step 25: canary 1.1.0 traffic 10% -> 50% rises 40 points"
    ]
    (allowed,) = canary_plan(("1.1.0", 10), ("1.1.0", 35)).steps
    assert allowed.status == "ready"
    (lowered,) = canary_plan(("1.1.0", 60), ("1.1.0", 5)).steps
    assert lowered.status == "ready"


def test_max_canary_step_limits_where_a_new_canary_starts() -> None:
    (fresh,) = canary_plan(None, ("1.1.0", 30)).steps
    assert policy_reasons(fresh) == [
        "policy max_canary_step 25: canary 1.1.0 traffic 0% -> 30% rises 30 points "
        "(a new canary starts at most at 25%)"
    ]
    # Replacing the canary with another version starts the new one from zero.
    (replaced,) = canary_plan(("1.1.0", 20), ("1.2.0", 30)).steps
    assert replaced.status == "blocked"
    (ok,) = canary_plan(("1.1.0", 20), ("1.2.0", 25)).steps
    assert ok.status == "ready"


def test_promoting_the_canary_to_stable_is_exempt_from_max_canary_step() -> None:
    proj = project(max_canary_step=25)
    man = manifest(
        [model("fraud", "1.0.0", "1.1.0")], [deployment("prod", "fraud", "1.1.0")], proj=proj
    )
    state = recorded(
        man, deployments=[(deployment("prod", "fraud", "1.0.0", canary=("1.1.0", 10)), [])]
    )
    (promote,) = make_plan(man, state).steps
    assert (promote.action, promote.status) == ("promote", "ready")


# ---------------------------------------------------------------- allowed_formats


def test_allowed_formats_blocks_registering_other_formats_and_their_dependents() -> None:
    proj = project(allowed_formats=["skops", "onnx"])
    pickled = model("fraud", "1.0.0", fmt="pickle")
    man = manifest([pickled], [deployment("prod", "fraud", "1.0.0")], proj=proj)
    result = make_plan(man)
    register = step(result, "register:")
    assert policy_reasons(register) == [
        "policy allowed_formats [skops, onnx]: version 1.0.0 of fraud is pickle"
    ]
    deploy = step(result, "deploy:")
    assert deploy.blocked_by == ("depends on blocked step register:Model/fraud@1.0.0",)
    onnx = manifest(
        [model("fraud", "1.0.0", fmt="onnx")], [deployment("prod", "fraud", "1.0.0")], proj=proj
    )
    assert [s.status for s in make_plan(onnx).steps] == ["ready", "ready"]


# ---------------------------------------------------------------- freeze_windows


@pytest.mark.parametrize(
    ("now", "frozen"),
    [
        (FRIDAY_18 - timedelta(minutes=1), False),
        (FRIDAY_18, True),
        (FRIDAY_18 + timedelta(hours=59, minutes=59), True),
        (FRIDAY_18 + timedelta(hours=60), False),
        # --now in another zone: the cron is read in UTC (20:00+02:00 is 18:00 UTC).
        (datetime.fromisoformat("2026-03-06T19:59:00+02:00"), False),
        (datetime.fromisoformat("2026-03-06T20:00:00+02:00"), True),
    ],
)
def test_freeze_window_opens_at_the_cron_match_and_lasts_its_duration(
    now: datetime, frozen: bool
) -> None:
    proj = project(**WEEKEND_FREEZE)
    man = manifest([model("fraud", "1.0.0")], [deployment("prod", "fraud", "1.0.0")], proj=proj)
    (deploy,) = make_plan(man, recorded(man), now=now).steps
    if not frozen:
        assert (deploy.status, deploy.blocked_by) == ("ready", ())
        return
    assert deploy.blocked_by == (
        'policy freeze_windows {cron: "0 18 * * 5", duration: 2d12h}: frozen since '
        "2026-03-06T18:00:00+00:00 until 2026-03-09T06:00:00+00:00; only rollbacks run",
    )


def test_during_a_freeze_only_rollbacks_run() -> None:
    proj = project(**WEEKEND_FREEZE)
    mod = model("fraud", "0.9.0", "1.0.0", "1.1.0", "2.0.0")
    other = model("other", "1.0.0")
    wanted = [
        deployment("back", "fraud", "0.9.0"),  # returns to a version it served: rollback
        deployment("abort", "fraud", "1.0.0"),  # its canary removed: a canary rollback
        deployment("lower", "fraud", "1.0.0", canary=("1.1.0", 5)),  # canary traffic lowered
        deployment("raise", "fraud", "1.0.0", canary=("1.1.0", 20)),  # canary traffic raised
        deployment("fresh", "fraud", "1.0.0"),  # new deployment
    ]
    man = manifest([mod], wanted, proj=proj)
    state = recorded(
        manifest([model("fraud", "0.9.0", "1.0.0", "1.1.0"), other], proj=proj),
        deployments=[
            (deployment("back", "fraud", "1.0.0"), ["0.9.0"]),
            (deployment("abort", "fraud", "1.0.0", canary=("1.1.0", 10)), []),
            (deployment("lower", "fraud", "1.0.0", canary=("1.1.0", 10)), []),
            (deployment("raise", "fraud", "1.0.0", canary=("1.1.0", 10)), []),
            (deployment("gone", "other", "1.0.0"), []),
        ],
    )
    result = make_plan(man, state, now=FRIDAY_18 + timedelta(hours=1))
    status = {s.id: s.status for s in result.steps}
    assert status == {
        "register:Model/fraud@2.0.0": "blocked",
        "retire:Model/other@1.0.0": "blocked",
        "rollback:Deployment/back@0.9.0:stable": "ready",
        "update:Deployment/abort:canary": "ready",
        "update:Deployment/lower:canary": "ready",
        "update:Deployment/raise@1.1.0:canary": "blocked",
        "deploy:Deployment/fresh@1.0.0:stable": "blocked",
        "undeploy:Deployment/gone": "blocked",
    }
    for item in result.steps:
        if item.status == "blocked":
            assert any("policy freeze_windows" in why for why in item.blocked_by), item.id


def test_open_windows_counts_a_match_exactly_at_now_and_overlapping_windows() -> None:
    windows = spec_models.Policies.model_validate(
        {
            "freeze_windows": [
                {"cron": "0 * * * *", "duration": "30m"},
                WEEKEND_FREEZE["freeze_windows"][0],
            ]
        }
    ).freeze_windows
    assert [w.start for w in open_windows(windows, FRIDAY_18)] == [FRIDAY_18, FRIDAY_18]
    later = open_windows(windows, FRIDAY_18 + timedelta(minutes=30))
    assert [w.cron for w in later] == ["0 18 * * 5"]


def test_no_policies_leave_the_plan_unchanged() -> None:
    man = manifest(
        [model("fraud", "1.0.0", fmt="pickle")], [deployment("p", "fraud", "1.0.0")], proj=project()
    )
    assert [(s.status, s.blocked_by) for s in make_plan(man).steps] == [("ready", ())] * 2
