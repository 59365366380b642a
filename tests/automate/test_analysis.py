"""Canary analysis decisions from plain values: waiting, stepping, promoting, aborting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops_gitops.automate import analysis
from mlops_gitops.automate.analysis import CheckResult
from mlops_gitops.spec import models as spec_models
from mlops_gitops.state.progress import CanaryProgress, CheckMark

T0 = datetime(2026, 11, 27, 9, tzinfo=UTC)
HOUR = timedelta(hours=1)


def canary(traffic: int = 10, max_failures: int = 2, version: str = "1.3.0") -> spec_models.Canary:
    return spec_models.Canary.model_validate(
        {
            "version": version,
            "traffic": traffic,
            "steps": [10, 25, 50, 100],
            "analysis": {
                "interval": "1h",
                "min_samples": 500,
                "max_failures": max_failures,
                "checks": [{"compare": "accuracy", "test": "non_inferiority", "margin": 0.01}],
            },
        }
    )


def fresh(c: spec_models.Canary) -> CanaryProgress:
    return analysis.start("d", c, None, T0)


PASS = [CheckResult("accuracy", "pass", "")]
FAIL = [CheckResult("accuracy", "fail", "shown worse")]


def conclude(
    c: spec_models.Canary,
    progress: CanaryProgress,
    results: list[CheckResult],
    frozen: list[str] | None = None,
    max_step: int | None = None,
) -> analysis.Decision:
    return analysis.conclude(
        "d", c, progress, results, 600, T0 + HOUR, "ev", frozen or [], max_step
    )


def test_waits_for_samples_and_says_how_many() -> None:
    c = canary()
    why = analysis.waiting(c, fresh(c), 312, T0 + HOUR)
    assert why == "waiting: 312 of 500 samples per version at 10% traffic"


def test_waits_for_the_interval_after_an_analysis() -> None:
    c = canary()
    assert analysis.waiting(c, fresh(c), 5000, T0) is None  # the first needs only samples
    done = fresh(c).model_copy(update={"last_analysis": T0})
    why = analysis.waiting(c, done, 5000, T0 + timedelta(minutes=59))
    assert why is not None and "next analysis at 2026-11-27T10:00" in why
    assert analysis.waiting(c, done, 5000, T0 + HOUR) is None


def test_samples_count_from_the_current_step() -> None:
    c = canary(traffic=25)
    stepped = fresh(c).model_copy(update={"samples_at_step": 4000, "last_analysis": T0})
    why = analysis.waiting(c, stepped, 4300, T0 + 2 * HOUR)
    assert why is not None and "300 of 500" in why


def test_passing_steps_to_the_next_traffic() -> None:
    c = canary()
    decision = conclude(c, fresh(c), PASS)
    assert (decision.action, decision.traffic) == ("step", 25)
    assert decision.progress.last_step == T0 + HOUR
    assert decision.progress.samples_at_step == 600
    assert decision.progress.analyses[-1].outcome == "passed"


def test_passing_the_last_step_promotes() -> None:
    c = canary(traffic=100)
    assert conclude(c, fresh(c), PASS).action == "promote"


def test_failures_accumulate_then_abort() -> None:
    c = canary()
    first = conclude(c, fresh(c), FAIL)
    assert (first.action, first.progress.failures, first.traffic) == ("fail", 1, 10)
    second = conclude(c, first.progress, FAIL)
    assert (second.action, second.progress.failures, second.traffic) == ("abort", 2, 0)
    assert "failed analysis 2 of 2" in second.reason


def test_a_failing_check_wins_over_a_pending_one() -> None:
    c = canary()
    decision = conclude(c, fresh(c), [*FAIL, CheckResult("p99", "wait", "no data")])
    assert decision.action == "fail"


def test_inconclusive_waits_without_counting() -> None:
    c = canary()
    decision = conclude(c, fresh(c), [CheckResult("accuracy", "wait", "inconclusive: ...")])
    assert decision.action == "wait"
    assert decision.reason.startswith("waiting: accuracy: inconclusive")
    assert decision.progress.failures == 0 and decision.progress.last_analysis is None


def test_a_freeze_window_holds_the_step() -> None:
    c = canary()
    decision = conclude(c, fresh(c), PASS, frozen=["freeze window 0 18 * * 5 (60h)"])
    assert decision.action == "wait" and "freeze window" in decision.reason


def test_max_canary_step_caps_the_step() -> None:
    c = canary(traffic=50)
    decision = conclude(c, fresh(c), PASS, max_step=20)
    assert (decision.action, decision.traffic) == ("step", 70)
    assert "policy max_canary_step 20" in decision.reason


def test_a_new_canary_version_starts_afresh() -> None:
    old = conclude(canary(), fresh(canary()), FAIL).progress
    assert analysis.start("d", canary(version="1.4.0"), old, T0 + HOUR).failures == 0
    assert analysis.start("d", canary(), old, T0 + HOUR).failures == 1


def entry(p_pass: float, p_fail: float) -> dict[str, object]:
    return {
        "alpha": 0.05,
        "p_pass": p_pass,
        "p_fail": p_fail,
        "confidence_sequence": [-0.02, 0.01],
        "estimate": {"delta": -0.005, "n_canary": 800, "n_stable": 7200},
    }


def test_compare_checks_keep_the_smallest_p_values() -> None:
    result, mark = analysis.judge_compare("acc", entry(0.5, 0.01), CheckMark())
    assert result.status == "fail" and mark.p_fail == 0.01
    # A later look with weaker evidence does not undo the earlier finding.
    again, mark = analysis.judge_compare("acc", entry(0.4, 0.3), mark)
    assert again.status == "fail" and mark == CheckMark(p_pass=0.4, p_fail=0.01)


def test_compare_check_missing_or_unavailable_waits() -> None:
    assert analysis.judge_compare("acc", None, CheckMark())[0].status == "wait"
    found = analysis.judge_compare("acc", {"unavailable": "no labels"}, CheckMark())[0]
    assert (found.status, found.detail) == ("wait", "unavailable: no labels")


@pytest.mark.parametrize(("value", "status"), [(0.01, "pass"), (0.03, "fail"), (None, "wait")])
def test_threshold_checks(value: float | None, status: str) -> None:
    assert analysis.judge_bound("err", value, None, 0.02, "no data").status == status


def test_steps_must_rise_and_need_an_analysis() -> None:
    with pytest.raises(ValueError, match="steps must rise"):
        spec_models.Canary.model_validate({"version": "1", "traffic": 10, "steps": [25, 10]})
    with pytest.raises(ValueError, match="need an analysis"):
        spec_models.Canary.model_validate({"version": "1", "traffic": 10, "steps": [10, 100]})


def test_performance_degradation_for_lower_is_better_metrics() -> None:
    from mlops_gitops.automate.triggers import performance

    rise = spec_models.PerformanceTrigger(
        type="performance_degradation", metric="mae", relative_drop=0.1
    )
    assert performance(rise, 56.0, {"mae": 50.0}, "2", "r").fired  # 12% worse
    assert not performance(rise, 54.0, {"mae": 50.0}, "2", "r").fired
    bound = spec_models.PerformanceTrigger(type="performance_degradation", metric="rmse", above=60)
    assert performance(bound, 61.0, {}, "2", "r").fired
    with pytest.raises(ValueError, match="lower-is-better: set above"):
        spec_models.PerformanceTrigger(type="performance_degradation", metric="mae", below=40)


def test_error_rate_increase_against_stable_and_the_previous_window() -> None:
    from mlops_gitops.automate.triggers import Seen, error_rate_change
    from mlops_gitops.report_model import parse_report

    spec = spec_models.DeploymentSpec(
        model="x",
        stage="production",
        version="1",
        canary=spec_models.Canary(version="2", traffic=10),
    )

    def report(versions: dict[str, float]) -> Any:
        entries = {v: {"error_rate": rate} for v, rate in versions.items()}
        return parse_report({"deployment": "d", "versions": entries}, "r")

    now = report({"1": 0.010, "2": 0.035})
    vs_stable = spec_models.ErrorRateTrigger(
        type="error_rate_increase", compare_to="stable", increase_above=0.02
    )
    found = error_rate_change(vs_stable, Seen(now, "r", spec, {}), "2")
    assert found.fired and "+2.50 points" in found.explanation
    vs_before = spec_models.ErrorRateTrigger(
        type="error_rate_increase", compare_to="previous_window", increase_above=0.02
    )
    previous = report({"2": 0.030})
    assert not error_rate_change(vs_before, Seen(now, "r", spec, {}, previous), "2").fired
    assert not error_rate_change(vs_before, Seen(now, "r", spec, {}), "2").fired  # no baseline


def test_prometheus_answers_are_parsed_strictly() -> None:
    from mlops_gitops.providers.prometheus import parse

    ok = (
        b'{"status":"success","data":{"resultType":"vector",'
        b'"result":[{"metric":{},"value":[1,"0.25"]}]}}'
    )
    assert parse(200, ok) == 0.25
    assert parse(200, b'{"status":"success","data":{"resultType":"vector","result":[]}}') is None
    assert (
        parse(200, b'{"status":"success","data":{"resultType":"scalar","result":[1,"NaN"]}}')
        is None
    )
    for bad in (b"<html>", b'{"status":"error","error":"parse error"}', b'{"status":"success"}'):
        with pytest.raises(ValueError):
            parse(400, bad)
