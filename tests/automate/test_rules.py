"""Rules through `reconcile --now T --format json`, on reports whose numbers each test picks.

The reports have the shape monitor writes (reports/<d>/latest.json, committed); no prediction
logs exist, so monitor leaves them alone and each test controls exactly what a rule sees.
Time is always `--now`: schedules, cooldowns and freeze windows never read the clock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.automate.helpers import (
    DEPLOYMENT_FILE,
    REPORT,
    RULE_FILE,
    reconcile,
    reconcile_text,
    report,
    rule_result,
    write_report,
    write_rule,
)
from tests.support.git import commit_all, git, head, trailers

LOG_ALERT = "  actions:\n    - {type: send_alert, channel: log}\n"

pytestmark = pytest.mark.no_git_identity


def use_rule(repo: Path, name: str, body: str) -> None:
    """Replace example-repo's drift rule by this one, committed."""
    (repo / RULE_FILE).unlink()
    write_rule(repo, name, body)
    commit_all(repo, f"rule {name}")


def changed_lines(repo: Path, commit: str, path: str) -> list[str]:
    diff = git(repo, "show", "--format=", "--unified=0", commit, "--", path)
    return [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def state(repo: Path, deployment: str = "cancer-prod") -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (repo / ".mlops/state/deployments" / f"{deployment}.json").read_text()
    )
    return data


# ---------------------------------------------------------------- triggers and conditions


def test_schedule_fires_once_per_cron_match(repo: Path) -> None:
    use_rule(
        repo,
        "weekly",
        '  triggers:\n    - {type: schedule, cron: "0 3 * * 1"}\n' + LOG_ALERT,
    )
    # 2026-11-27 is a Friday: the latest match, Monday 23rd 03:00, has never run.
    first = rule_result(reconcile(repo, "2026-11-27T12:00:00Z"), "weekly")
    assert first["fired"] and first["acted"]
    assert first["triggers"][0]["explanation"] == (
        "cron '0 3 * * 1' was due at 2026-11-23T03:00:00+00:00"
    )
    assert trailers(repo, "Mlops-Rule", "-1") == ["weekly"]
    assert trailers(repo, "Mlops-Trigger", "-1") == ["schedule"]
    # The same match never runs twice, whatever the time within the week.
    for now in ("2026-11-28T12:00:00Z", "2026-11-30T02:59:59Z"):
        quiet = rule_result(reconcile(repo, now), "weekly")
        assert not quiet["fired"] and not quiet["acted"]
        assert "already ran for 2026-11-23T03:00:00+00:00" in quiet["explanation"]
    sha = head(repo)
    # The next match runs once, exactly at its time and not again half an hour later.
    due = rule_result(reconcile(repo, "2026-11-30T03:00:00Z"), "weekly")
    assert due["acted"] and "due at 2026-11-30T03:00:00+00:00" in due["explanation"]
    assert head(repo) != sha
    sha = head(repo)
    assert not rule_result(reconcile(repo, "2026-11-30T03:30:00Z"), "weekly")["acted"]
    assert head(repo) == sha
    # A schedule needs no report and no samples: the alert went out on the log each time.
    text = reconcile_text(repo, "2026-12-07T03:00:00Z")
    assert "ALERT: rule weekly on cancer-prod: cron '0 3 * * 1' was due at 2026-12-07" in text


def test_cooldown_holds_the_rule_and_the_same_evidence_never_acts_twice(repo: Path) -> None:
    use_rule(
        repo,
        "drift",
        "  triggers:\n    - {type: data_drift, share_above: 0.2}\n"
        "  conditions: {cooldown: 2h}\n" + LOG_ALERT,
    )
    write_report(repo, report(share=0.3, end="2026-11-27T10:00:00+00:00"))
    acted = rule_result(reconcile(repo, "2026-11-27T12:00:00Z"), "drift")
    assert acted["acted"]
    first_evidence = acted["evidence"]
    assert (
        first_evidence
        == f"{REPORT}@{git(repo, 'log', '-1', '--format=%h', '--abbrev=12', '--', REPORT).strip()}"
    )

    # New data an hour later: the trigger fires, the cooldown holds the rule.
    write_report(repo, report(records=1100, share=0.4, end="2026-11-27T12:30:00+00:00"))
    sha = head(repo)
    cooling = rule_result(reconcile(repo, "2026-11-27T13:00:00Z"), "drift")
    assert cooling["fired"] is False and cooling["acted"] is False
    assert cooling["triggers"][0]["fired"] is True
    assert cooling["explanation"] == (
        "triggers fired but the rule is cooling down until 2026-11-27T14:00:00+00:00"
    )
    assert head(repo) == sha

    # At the end of the cooldown it acts on the new report ...
    again = rule_result(reconcile(repo, "2026-11-27T14:00:00Z"), "drift")
    assert again["acted"] and again["evidence"] != first_evidence
    # ... and never twice on the same data, however long after.
    sha = head(repo)
    same = rule_result(reconcile(repo, "2026-11-28T14:00:00Z"), "drift")
    assert not same["acted"]
    assert "not acting: already acted on this data" in same["explanation"]
    assert head(repo) == sha


def test_min_samples(repo: Path) -> None:
    use_rule(
        repo,
        "drift",
        "  triggers:\n    - {type: data_drift, share_above: 0.2}\n"
        "  conditions: {min_samples: 200}\n" + LOG_ALERT,
    )
    write_report(repo, report(records=150, share=0.5))
    few = rule_result(reconcile(repo, "2026-11-27T12:00:00Z"), "drift")
    assert not few["acted"] and few["triggers"][0]["fired"]
    assert few["explanation"] == ("triggers fired but the window has 150 records < min_samples 200")
    write_report(repo, report(records=200, share=0.5, end="2026-11-27T09:00:00+00:00"))
    assert rule_result(reconcile(repo, "2026-11-27T13:00:00Z"), "drift")["acted"]


def test_match_all_needs_every_trigger(repo: Path) -> None:
    use_rule(
        repo,
        "both",
        "  triggers:\n"
        "    - {type: data_drift, share_above: 0.2}\n"
        "    - {type: error_rate_increase, above: 0.05}\n"
        "  conditions: {match: all}\n" + LOG_ALERT,
    )
    write_report(repo, report(share=0.3, versions={"1.2.0": {"error_rate": 0.01}}))
    one = rule_result(reconcile(repo, "2026-11-27T12:00:00Z"), "both")
    assert [t["fired"] for t in one["triggers"]] == [True, False]
    assert not one["acted"]
    assert one["explanation"] == (
        f"not all triggers fired: error rate of 1.2.0 0.0100 <= 0.05 ({REPORT})"
    )
    # The canary is what the rule watches: its error rate, not the stable version's.
    write_report(
        repo,
        report(
            share=0.3,
            versions={"1.1.0": {"error_rate": 0.0}, "1.2.0": {"error_rate": 0.08}},
            end="2026-11-27T09:00:00+00:00",
        ),
    )
    both = rule_result(reconcile(repo, "2026-11-27T13:00:00Z"), "both")
    assert both["acted"]
    assert [t["value"] for t in both["triggers"]] == [0.3, 0.08]
    assert both["triggers"][1]["version"] == "1.2.0"


def test_every_evaluation_is_explained(repo: Path) -> None:
    (repo / RULE_FILE).unlink()
    write_rule(
        repo,
        "everything",
        "  triggers:\n"
        "    - {type: data_drift, share_above: 0.5}\n"
        "    - {type: data_drift, feature: mean_radius, statistic_above: 0.3}\n"
        "    - {type: performance_degradation, metric: accuracy, below: 0.8}\n"
        "    - {type: performance_degradation, metric: accuracy, relative_drop: 0.1}\n"
        "    - {type: error_rate_increase, above: 0.05}\n"
        "    - {type: latency, p95_ms_above: 100, p99_ms_above: 250}\n"
        "  conditions: {min_samples: 10}\n" + LOG_ALERT,
    )
    write_rule(
        repo,
        "calm",
        "  triggers:\n    - {type: latency, p99_ms_above: 1000}\n" + LOG_ALERT,
    )
    write_rule(
        repo,
        "disabled",
        "  enabled: false\n  triggers:\n    - {type: data_drift, share_above: 0.1}\n" + LOG_ALERT,
    )
    commit_all(repo, "rules")
    # No report yet: every trigger says so.
    result = reconcile(repo, "2026-11-27T12:00:00Z")
    assert result["format_version"] == "1"
    everything = rule_result(result, "everything")
    assert {t["explanation"] for t in everything["triggers"]} == {"no monitoring report yet"}
    assert everything["explanation"].startswith("no trigger fired: no monitoring report yet")
    assert rule_result(result, "disabled")["explanation"] == "rule is disabled"

    write_report(
        repo,
        report(
            share=0.1,
            features={"mean_radius": {"method": "psi", "statistic": 0.42, "drifted": True}},
            versions={
                "1.2.0": {
                    "performance": {"accuracy": 0.85},
                    "error_rate": 0.01,
                    "latency_ms": {"p95": 80.0, "p99": 300.0},
                }
            },
        ),
    )
    result = reconcile(repo, "2026-11-27T13:00:00Z")
    everything = rule_result(result, "everything")
    explained = [(t["type"], t["fired"], t["explanation"]) for t in everything["triggers"]]
    # 1.2.0's registered offline accuracy is the base of the relative drop.
    from mlops_gitops import api

    version = api.open_workspace(repo).manifest.version("cancer-detector", "1.2.0")
    assert version is not None
    offline = version.metrics
    limit = offline["accuracy"] * 0.9
    assert explained == [
        ("data_drift", False, f"drift share 0.10 <= 0.5 ({REPORT})"),
        ("data_drift", True, f"psi of mean_radius = 0.42 > 0.3 ({REPORT})"),
        ("performance_degradation", False, f"accuracy of 1.2.0 0.8500 is not below 0.8 ({REPORT})"),
        (
            "performance_degradation",
            limit > 0.85,
            f"accuracy of 1.2.0 0.8500 is {'' if limit > 0.85 else 'not '}10% under the offline "
            f"{offline['accuracy']:.4g} ({REPORT})",
        ),
        ("error_rate_increase", False, f"error rate of 1.2.0 0.0100 <= 0.05 ({REPORT})"),
        ("latency", True, f"p99 latency of 1.2.0 300.0 ms > 250 ms ({REPORT})"),
    ]
    for trigger in everything["triggers"]:
        assert set(trigger) == {"type", "fired", "value", "threshold", "version", "explanation"}
    assert everything["acted"]
    assert everything["evidence"].startswith(f"{REPORT}@")
    assert everything["explanation"] == "; ".join(e for _, fired, e in explained if fired)
    assert [a["type"] for a in everything["actions"]] == ["send_alert"]
    assert everything["actions"][0]["delivered"] is True
    calm = rule_result(result, "calm")
    assert calm["explanation"] == (
        "no trigger fired: latency of 1.2.0 within limits (p95 80.0, p99 300.0 ms; "
        f"limits p99 1000 ms) ({REPORT})"
    )
    assert set(rule_result(result, "disabled")) >= {
        "rule", "deployment", "fired", "explanation", "evidence", "triggers", "acted",
        "actions", "commit",
    }  # fmt: skip


# ---------------------------------------------------------------- spec edits


def test_update_traffic_allocation_edits_one_value_and_apply_carries_it_out(repo: Path) -> None:
    use_rule(
        repo,
        "ease",
        "  triggers:\n    - {type: error_rate_increase, above: 0.05}\n"
        "  actions:\n    - {type: update_traffic_allocation, canary_traffic: 5}\n",
    )
    write_report(repo, report(versions={"1.2.0": {"error_rate": 0.2}}))
    result = reconcile(repo, "2026-11-27T12:00:00Z")
    ease = rule_result(result, "ease")
    assert ease["acted"]
    assert ease["actions"] == [
        {
            "type": "update_traffic_allocation",
            "canary_traffic": 5,
            "detail": "canary traffic 20% -> 5%",
            "path": DEPLOYMENT_FILE,
        }
    ]
    assert changed_lines(repo, ease["commit"], DEPLOYMENT_FILE) == [
        "-    traffic: 20                   # percent of requests; the rest go to the stable"
        " version",
        "+    traffic: 5                   # percent of requests; the rest go to the stable"
        " version",
    ]
    assert [s["action"] for s in result["apply"]["steps"]] == ["update"]
    assert state(repo)["canary"] == {"version": "1.2.0", "traffic": 5}
    assert result["exit_code"] == 0


def test_scale_deployment_edits_the_flow_mapping_in_place(repo: Path) -> None:
    use_rule(
        repo,
        "grow",
        "  triggers:\n    - {type: latency, p99_ms_above: 100}\n"
        "  actions:\n    - {type: scale_deployment, min_replicas: 2, max_replicas: 8}\n",
    )
    write_report(repo, report(versions={"1.2.0": {"latency_ms": {"p95": 90, "p99": 180}}}))
    result = reconcile(repo, "2026-11-27T12:00:00Z")
    grow = rule_result(result, "grow")
    assert grow["acted"]
    assert changed_lines(repo, grow["commit"], DEPLOYMENT_FILE) == [
        "-  scaling: {min_replicas: 1, max_replicas: 4}",
        "+  scaling: {min_replicas: 2, max_replicas: 8}",
    ]
    assert [s["action"] for s in result["apply"]["steps"]] == ["update"]
    assert state(repo)["settings"]["scaling"] == {"min_replicas": 2, "max_replicas": 8}


def test_scale_deployment_adds_scaling_where_the_spec_has_none(repo: Path) -> None:
    (repo / RULE_FILE).unlink()
    rel = write_rule(
        repo,
        "grow-staging",
        "  triggers:\n    - {type: latency, p99_ms_above: 100}\n"
        "  actions:\n    - {type: scale_deployment, min_replicas: 2, max_replicas: 3}\n",
    )
    text = (repo / rel).read_text().replace("deployment: cancer-prod", "deployment: cancer-staging")
    (repo / rel).write_text(text)
    path = repo / "reports/cancer-staging/latest.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(report(versions={"1.2.0": {"latency_ms": {"p99": 500}}})))
    commit_all(repo, "staging rule and report")
    before = (repo / "deployments/cancer-staging.yaml").read_text()
    result = reconcile(repo, "2026-11-27T12:00:00Z")
    grow = rule_result(result, "grow-staging")
    assert grow["acted"], grow
    after = (repo / "deployments/cancer-staging.yaml").read_text()
    lines = changed_lines(repo, grow["commit"], "deployments/cancer-staging.yaml")
    assert lines == ["+  scaling: {min_replicas: 2, max_replicas: 3}"]
    assert [line for line in after.splitlines() if "scaling" not in line] == before.splitlines()
    assert state(repo, "cancer-staging")["settings"]["scaling"] == {
        "min_replicas": 2,
        "max_replicas": 3,
    }


def test_a_rule_does_not_undo_a_change_made_after_its_evidence(repo: Path) -> None:
    use_rule(
        repo,
        "back",
        "  triggers:\n    - {type: data_drift, share_above: 0.2}\n"
        "  actions:\n    - {type: rollback_deployment}\n",
    )
    write_report(repo, report(share=0.5))
    # A human raises the canary after the report was written: the report says nothing about it.
    deployment = repo / DEPLOYMENT_FILE
    deployment.write_text(deployment.read_text().replace("traffic: 20 ", "traffic: 40 "))
    human = commit_all(repo, "canary to 40%")
    back = rule_result(reconcile(repo, "2026-11-27T12:00:00Z"), "back")
    assert back["fired"] is False and not back["acted"]
    assert (
        f"not acting: the deployment changed after the evidence (commit {human[:12]})"
        in back["explanation"]
    )
    assert "traffic: 40 " in deployment.read_text()
    # Monitor may re-report the same window after a change (new settings or versions): a
    # newer commit, but no record in it is newer than the change, so still no evidence.
    rereport = report(share=0.5)
    rereport["generated_at"] = "2026-11-27T12:30:00+00:00"
    write_report(repo, rereport)
    again = rule_result(reconcile(repo, "2026-11-27T12:30:00Z"), "back")
    assert not again["acted"]
    assert (
        f"not acting: the report has no records newer than the deployment's last change "
        f"(commit {human[:12]}); waiting for data on the new configuration"
    ) in again["explanation"]
    assert "traffic: 40 " in deployment.read_text()
    # A report with data after the change is evidence again.
    write_report(repo, report(share=0.5, end="2026-11-27T11:00:00+00:00"))
    assert rule_result(reconcile(repo, "2026-11-27T13:00:00Z"), "back")["acted"]
    assert "  canary:" not in deployment.read_text()


def test_a_failed_action_is_an_error_and_says_why(repo: Path) -> None:
    deployment = repo / DEPLOYMENT_FILE
    text = deployment.read_text()
    deployment.write_text(text[: text.index("  canary:")] + text[text.index("  resources:") :])
    commit_all(repo, "no canary")
    use_rule(
        repo,
        "ease",
        "  triggers:\n    - {type: error_rate_increase, above: 0.05}\n"
        "  actions:\n    - {type: update_traffic_allocation, canary_traffic: 5}\n"
        "    - {type: send_alert, channel: log}\n",
    )
    write_report(repo, report(versions={"1.1.0": {"error_rate": 0.2}}))
    result = reconcile(repo, "2026-11-27T12:00:00Z", expect=1)
    ease = rule_result(result, "ease")
    assert ease["acted"] and result["exit_code"] == 1
    assert ease["actions"][0] == {
        "type": "update_traffic_allocation",
        "error": "the deployment has no canary to shift traffic from",
    }
    assert ease["actions"][1]["delivered"] is True  # the other actions still ran
    assert (
        "Mlops-Action: update_traffic_allocation (failed: the deployment has no canary to shift "
        "traffic from)\n" in git(repo, "log", "-1", "--format=%B", ease["commit"])
    )


# ---------------------------------------------------------------- freeze windows


FREEZE = '    freeze_windows:\n      - {cron: "0 18 * * 5", duration: 60h}\n'


def freeze_weekends(repo: Path) -> None:
    pytest.importorskip("mlops_gitops.plan.policies", reason="policies are not built yet")
    project = repo / "mlops.yaml"
    text = project.read_text()
    anchor = "    allowed_formats: [skops, onnx, joblib]\n"
    assert anchor in text
    project.write_text(text.replace(anchor, anchor + FREEZE))
    commit_all(repo, "freeze weekends")


def test_freeze_window_lets_a_rule_roll_back_but_holds_other_changes(repo: Path) -> None:
    freeze_weekends(repo)
    use_rule(
        repo,
        "guard",
        "  triggers:\n    - {type: data_drift, share_above: 0.2}\n"
        "  actions:\n"
        "    - {type: rollback_deployment}\n"
        "    - {type: scale_deployment, min_replicas: 2, max_replicas: 8}\n",
    )
    write_report(repo, report(share=0.5))
    # Saturday noon, inside the window opened Friday 18:00: the canary rollback runs, the
    # scaling change waits, named with the window.
    frozen = reconcile(repo, "2026-11-28T12:00:00Z", expect=3)
    assert rule_result(frozen, "guard")["acted"]
    steps = {s["id"]: s for s in frozen["apply"]["steps"]}
    assert frozen["exit_code"] == 3
    assert steps["update:Deployment/cancer-prod:canary"]["status"] == "done"
    held = steps["update:Deployment/cancer-prod:settings"]
    assert held["status"] == "blocked"
    assert held["message"].startswith('policy freeze_windows {cron: "0 18 * * 5"')
    assert "until 2026-11-30T06:00:00+00:00; only rollbacks run" in held["message"]
    assert state(repo)["canary"] is None and state(repo)["serving"]["canary"] is None
    assert state(repo)["settings"]["scaling"] == {"min_replicas": 1, "max_replicas": 4}
    # Monday 06:00 the window has closed: the rest is applied; nothing more after that.
    opened = reconcile(repo, "2026-11-30T06:00:00Z")
    assert opened["exit_code"] == 0
    assert [s["status"] for s in opened["apply"]["steps"]] == ["done"]
    assert state(repo)["settings"]["scaling"] == {"min_replicas": 2, "max_replicas": 8}
    sha = head(repo)
    quiet = reconcile(repo, "2026-11-30T07:00:00Z")
    assert quiet["apply"]["steps"] == [] and head(repo) == sha


def test_freeze_window_opens_and_closes_by_now(repo: Path) -> None:
    freeze_weekends(repo)
    deployment = repo / DEPLOYMENT_FILE
    deployment.write_text(deployment.read_text().replace("max_replicas: 4", "max_replicas: 6"))
    commit_all(repo, "more replicas")
    before = reconcile(repo, "2026-11-27T17:59:59Z")  # Friday, a second before the window
    assert before["exit_code"] == 0 and before["apply"]["steps"][0]["status"] == "done"
    deployment.write_text(deployment.read_text().replace("max_replicas: 6", "max_replicas: 7"))
    commit_all(repo, "even more replicas")
    during = reconcile(repo, "2026-11-27T18:00:00Z", expect=3)  # the window opens on the match
    assert [s["status"] for s in during["apply"]["steps"]] == ["blocked"]
    after = reconcile(repo, "2026-11-30T06:00:00Z")  # 60 hours later it has closed
    assert [s["status"] for s in after["apply"]["steps"]] == ["done"]


def test_a_tampered_report_stops_the_rule_with_the_file_and_field(repo: Path) -> None:
    use_rule(
        repo, "errors", "  triggers:\n    - {type: error_rate_increase, above: 0.05}\n" + LOG_ALERT
    )
    # A string where a number belongs: no half-read report may drive (or silence) a rule.
    write_report(repo, report(versions={"1.2.0": {"error_rate": "0.9"}}))
    before = head(repo)
    result = rule_result(reconcile(repo, "2026-11-27T12:00:00Z"), "errors")
    assert not result["fired"] and not result["acted"]
    assert result["explanation"].startswith(
        f"{REPORT}: not a monitoring report: versions.1.2.0.error_rate"
    )
    assert head(repo) == before


def test_data_quality_trigger_fires_on_the_first_limit_exceeded(repo: Path) -> None:
    use_rule(
        repo,
        "quality",
        "  triggers:\n    - {type: data_quality, max_invalid_share: 0.01, schema_changes: 0}\n"
        + LOG_ALERT,
    )
    clean = report() | {
        "data_quality": {"invalid_share": 0.004, "schema": {"changes": 0}, "missing_share": 0}
    }
    write_report(repo, clean)
    quiet = rule_result(reconcile(repo, "2026-11-27T12:00:00Z"), "quality")
    assert not quiet["fired"]
    assert quiet["triggers"][0]["explanation"] == (
        f"data quality: invalid share 0.004 <= 0.01, schema changes 0 <= 0 ({REPORT})"
    )
    changed = report(end="2026-11-27T09:00:00+00:00") | {
        "data_quality": {"invalid_share": 0.004, "schema": {"changes": 2}}
    }
    write_report(repo, changed)
    fired = rule_result(reconcile(repo, "2026-11-27T13:00:00Z"), "quality")
    assert fired["fired"] and fired["acted"]
    trigger = fired["triggers"][0]
    assert (trigger["value"], trigger["threshold"]) == (2, 0)
    assert trigger["explanation"] == f"data quality: schema changes 2 > 0 ({REPORT})"


def test_a_report_without_the_data_quality_numbers_never_fires_the_trigger(repo: Path) -> None:
    use_rule(
        repo,
        "quality",
        "  triggers:\n    - {type: data_quality, max_invalid_share: 0}\n" + LOG_ALERT,
    )
    write_report(repo, report())  # written before data quality was measured
    quiet = rule_result(reconcile(repo, "2026-11-27T12:00:00Z"), "quality")
    assert not quiet["fired"]
    assert "has no invalid share (written by an older monitor)" in quiet["explanation"]


@pytest.mark.parametrize("kind", ["prediction_drift", "target_drift"])
def test_output_drift_triggers_read_their_test(repo: Path, kind: str) -> None:
    use_rule(repo, "outputs", f"  triggers:\n    - {{type: {kind}}}\n" + LOG_ALERT)
    test = {"available": True, "method": "chi2", "statistic": 9.5, "p_value": 0.002}
    write_report(repo, report() | {"outputs": {kind: test | {"threshold": 0.05, "drifted": True}}})
    fired = rule_result(reconcile(repo, "2026-11-27T12:00:00Z"), "outputs")
    assert fired["fired"] and fired["acted"]
    what = kind.replace("_", " ")
    assert fired["triggers"][0]["explanation"] == (
        f"{what}: drifted (chi2 9.5, p 0.002, threshold 0.05) ({REPORT})"
    )
    assert trailers(repo, "Mlops-Trigger", "-1") == [f"{kind} 9.5 threshold 0.05"]
