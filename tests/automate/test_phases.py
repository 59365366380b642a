"""Retirement phases decided with plain values: no repository, no git, no clock.

The runner's end-to-end behaviour is in tests/automate/test_retirement.py; here each
scheduling rule of `automate/phases.py` is pinned on in-memory specs and records.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from mlops_gitops.automate.phases import Inputs, SpecOp, decide
from mlops_gitops.compile.manifest import Manifest
from mlops_gitops.spec import models as spec_models
from mlops_gitops.state.progress import (
    CanaryMark,
    PhaseMark,
    RetirementProgress,
    TrafficMark,
)
from tests.support.repos import API
from tests.support.values import deployment, manifest, model, synced_state

NOW = datetime(2027, 2, 10, 9, 0, tzinfo=UTC)  # in traffic_reduction of a 2027-03-01 plan


def _plan(**spec: object) -> spec_models.RetirementPlan:
    data = {"model": "clf", "version": "1.0.0", "retirement_date": "2027-03-01"} | spec
    data.setdefault("replacement", "1.2.0")
    return spec_models.RetirementPlan.model_validate(
        {"apiVersion": API, "kind": "RetirementPlan", "metadata": {"name": "r"}, "spec": data}
    )


def _world(*deployments: spec_models.Deployment) -> Manifest:
    man = manifest([model("clf", "1.0.0", "1.1.0", "1.2.0")], deployments)
    plan = _plan()
    return replace(
        man,
        retirements={"r": plan},
        sources=man.sources | {"RetirementPlan/r": "retirements/r.yaml"},
    )


def _inputs(man: Manifest, progress: RetirementProgress | None = None, **kw: object) -> Inputs:
    base = Inputs(
        plan="r",
        spec=man.retirements["r"].spec,
        manifest=man,
        recorded=synced_state(man),
        progress=progress or RetirementProgress(plan="r", model="clf", version="1.0.0"),
        now=NOW,
        record=".mlops/state/retirements/r.json",
        step=25,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_a_stable_retiring_version_gets_the_replacement_as_canary() -> None:
    man = _world(deployment("prod", "clf", "1.0.0"))
    decision = decide(_inputs(man), "traffic_reduction", "traffic_reduction")
    assert decision is not None
    assert decision.result.status == "stepped"
    assert decision.ops == [
        SpecOp("deployments/prod.yaml", "delete_key", ("spec", "canary")),
        SpecOp(
            "deployments/prod.yaml",
            "insert_key",
            ("spec",),
            '{version: "1.2.0", traffic: 25}',
            key="canary",
            after="version",
        ),
    ]
    assert decision.traffic is not None
    mark = decision.traffic["prod"]
    assert (mark.day, mark.canary) == ("2027-02-10", CanaryMark(version="1.2.0", traffic=25))
    assert "next step of 25 points on 2027-02-11 at the earliest" in decision.result.notes


def test_one_step_per_utc_day_and_only_once_applied() -> None:
    man = _world(deployment("prod", "clf", "1.0.0", canary=("1.2.0", 25)))
    stepped_today = TrafficMark(
        day="2027-02-10", time=NOW, canary=CanaryMark(version="1.2.0", traffic=25)
    )
    progress = RetirementProgress(
        plan="r",
        model="clf",
        version="1.0.0",
        phases={"traffic_reduction": PhaseMark(status="started", time=NOW)},
        traffic={"prod": stepped_today},
    )
    same_day = decide(_inputs(man, progress), "traffic_reduction", "traffic_reduction")
    assert same_day is not None and same_day.ops == [] and not same_day.record
    tomorrow = datetime(2027, 2, 11, 0, 5, tzinfo=UTC)
    unapplied = synced_state(_world(deployment("prod", "clf", "1.0.0")))
    waiting = decide(
        _inputs(man, progress, now=tomorrow, recorded=unapplied),
        "traffic_reduction",
        "traffic_reduction",
    )
    assert waiting is not None and waiting.ops == []
    assert any("waiting until the spec" in note for note in waiting.result.notes)
    next_day = decide(
        _inputs(man, progress, now=tomorrow), "traffic_reduction", "traffic_reduction"
    )
    assert next_day is not None
    assert next_day.ops == [
        SpecOp("deployments/prod.yaml", "set", ("spec", "canary", "traffic"), 50)
    ]


def test_a_canary_someone_else_changed_is_left_alone() -> None:
    man = _world(deployment("prod", "clf", "1.0.0", canary=("1.2.0", 10)))
    tool_set = TrafficMark(
        day="2027-02-09", time=NOW, canary=CanaryMark(version="1.2.0", traffic=25)
    )
    progress = RetirementProgress(
        plan="r", model="clf", version="1.0.0", traffic={"prod": tool_set}
    )
    decision = decide(_inputs(man, progress), "traffic_reduction", "traffic_reduction")
    assert decision is not None and decision.ops == []
    assert any("the canary changed since the tool set it" in n for n in decision.result.notes)


def test_migration_needs_the_replacement_registered() -> None:
    man = _world(deployment("prod", "clf", "1.0.0"))
    recorded = synced_state(manifest([model("clf", "1.0.0")], []))
    decision = decide(_inputs(man, recorded=recorded), "final_migration", "final_migration")
    assert decision is not None and decision.ops == []
    assert decision.result.blocked_by == [
        "the replacement clf 1.2.0 is not registered in the recorded state, and the "
        "migration needs it: apply its registration first"
    ]


def test_retirement_removes_the_version_and_the_plan_once_nothing_serves_it() -> None:
    serving = _world(deployment("prod", "clf", "1.0.0"))
    blocked = decide(_inputs(serving), "retirement", "retirement")
    assert blocked is not None and blocked.ops == [] and blocked.result.blocked_by
    moved = _world(deployment("prod", "clf", "1.2.0"))
    decision = decide(_inputs(moved), "retirement", "retirement")
    assert decision is not None and not decision.result.blocked_by
    assert decision.ops == [
        SpecOp("models/clf.yaml", "delete_item", ("spec", "versions", 0)),
        SpecOp("retirements/r.yaml", "delete_file"),
    ]


def test_a_finished_phase_is_not_decided_again_but_a_missed_traffic_phase_is_skipped() -> None:
    man = _world(deployment("prod", "clf", "1.2.0"))
    done = RetirementProgress(
        plan="r",
        model="clf",
        version="1.0.0",
        phases={"deprecation_warning": PhaseMark(status="done", time=NOW)},
    )
    assert decide(_inputs(man, done), "deprecation_warning", "final_migration") is None
    skipped = decide(_inputs(man, done), "traffic_reduction", "final_migration")
    assert skipped is not None and skipped.result.status == "skipped"
    assert skipped.result.notes == [
        "skipped: the phase ended before it could run (now in final_migration)"
    ]
