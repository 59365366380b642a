"""Observed metrics from the latest report feed promotion gates in `plan`, source shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlops_gitops import api
from mlops_gitops.plan.gates import Observed
from mlops_gitops.workspace import Workspace
from tests.monitor.helpers import NOW, MonitorRepo, append, jsonl, record
from tests.support.cli import run_cli
from tests.support.git import git

STAGING_LOGS = "logs/clf-staging"
SOURCE = "reports/clf-staging/latest.json"
GATES = {"error_rate": "<= 0.05", "latency_p95_ms": "<= 50", "f1": ">= 0.5"}


@pytest.fixture
def applied(tmp_path: Path) -> MonitorRepo:
    """1.1.0 runs in staging (monitored); production runs 1.0.0; both applied."""
    spec = MonitorRepo(tmp_path / "repo")
    spec.deployment(
        "clf-staging",
        version="1.1.0",
        stage="staging",
        monitoring={"predictions": f"{STAGING_LOGS}/", "window": {"records": 100}},
    )
    spec.deployment("clf-prod")
    spec.init_git()
    done = run_cli("--repo", spec.root, "apply", "--now", NOW)
    assert done.code == 0, done.seen
    return spec


def staging_traffic(root: Path, errors: int, total: int = 40) -> None:
    records = [
        record(i, "1.1.0", error="timeout" if i < errors else None, label=i % 2, prediction=i % 2)
        for i in range(total)
    ]
    append(root / STAGING_LOGS / "p.jsonl", jsonl(records))
    (outcome,) = [o for o in api.monitor(root, now=NOW) if o.deployment == "clf-staging"]
    assert outcome.commit


def promote(spec: MonitorRepo) -> None:
    spec.deployment("clf-prod", version="1.1.0", promotion={"gates": GATES})
    git(spec.root, "commit", "-q", "-am", "clf-prod: promote 1.1.0")


def gates_of(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (step,) = [s for s in plan["steps"] if s["id"] == "promote:Deployment/clf-prod@1.1.0:stable"]
    return {g["metric"]: g for g in step["gates"]}


def test_workspace_observations_from_the_latest_report(applied: MonitorRepo) -> None:
    staging_traffic(applied.root, errors=4)
    observed = api.open_workspace(applied.root).observations()
    numbers = observed[("clf", "1.1.0")]
    assert numbers["error_rate"] == Observed(0.1, SOURCE)
    assert numbers["accuracy"] == Observed(1.0, SOURCE)  # errored requests are not judged
    assert numbers["f1"].value == 1.0
    assert numbers["latency_p50_ms"].source == SOURCE
    assert {"latency_p95_ms", "latency_p99_ms", "drift_share"} <= set(numbers)
    assert ("clf", "1.0.0") not in observed  # production has no logs, so no report


def test_error_rate_gate_fails_on_a_high_observed_error_rate(applied: MonitorRepo) -> None:
    staging_traffic(applied.root, errors=12)  # 30% of 40 requests failed
    promote(applied)
    done = run_cli("--repo", applied.root, "plan", "--now", NOW, "--format", "json")
    assert done.code == 0, done.seen
    gates = gates_of(done.json())
    assert gates["error_rate"] == {
        "metric": "error_rate",
        "op": "<=",
        "threshold": 0.05,
        "value": 0.3,
        "source": SOURCE,
        "passed": False,
        "version": "1.1.0",
    }
    assert gates["latency_p95_ms"]["passed"] and gates["latency_p95_ms"]["source"] == SOURCE
    assert gates["f1"]["passed"] and gates["f1"]["source"] == SOURCE  # observed beats offline
    done = run_cli("--repo", applied.root, "plan", "--now", NOW)
    assert f"gate error_rate <= 0.05: 0.3 ({SOURCE}) FAILED" in done.seen
    assert "[blocked]" in done.seen
    done = run_cli("--repo", applied.root, "apply", "--now", NOW)
    assert done.code == 3 and "blocked" in done.seen


def test_error_rate_gate_passes_on_a_low_observed_error_rate(applied: MonitorRepo) -> None:
    staging_traffic(applied.root, errors=1)
    promote(applied)
    done = run_cli("--repo", applied.root, "plan", "--now", NOW, "--format", "json")
    assert done.code == 0, done.seen
    gates = gates_of(done.json())
    assert all(g["passed"] for g in gates.values()), gates
    assert gates["error_rate"]["value"] == 1 / 40 and gates["error_rate"]["source"] == SOURCE


def test_without_a_report_gates_fall_back_to_offline_metrics(applied: MonitorRepo) -> None:
    promote(applied)
    done = run_cli("--repo", applied.root, "plan", "--now", NOW, "--format", "json")
    assert done.code == 0, done.seen
    gates = gates_of(done.json())
    assert gates["error_rate"]["value"] is None
    assert gates["error_rate"]["source"] == "no metric recorded"
    assert gates["f1"]["value"] == 0.9 and "offline metrics in models/clf.yaml" in str(
        gates["f1"]["source"]
    )


def test_a_damaged_report_is_no_observation(applied: MonitorRepo) -> None:
    staging_traffic(applied.root, errors=4)
    (applied.root / SOURCE).write_text("{ not json")
    workspace: Workspace = api.open_workspace(applied.root)
    assert workspace.observations() == {}


def test_a_data_quality_gate_blocks_on_invalid_values_and_names_the_report(
    applied: MonitorRepo,
) -> None:
    records = [record(i, "1.1.0", x="n/a" if i < 2 else None) for i in range(40)]
    append(applied.root / STAGING_LOGS / "p.jsonl", jsonl(records))
    api.monitor(applied.root, now=NOW)
    gate = {"data_quality": {"max_invalid_share": 0.01, "schema_changes": 0}}
    applied.deployment("clf-prod", version="1.1.0", promotion={"gates": gate})
    git(applied.root, "commit", "-q", "-am", "clf-prod: promote 1.1.0")
    planned = run_cli("--repo", applied.root, "plan", "--now", NOW, "--format", "json", expect=0)
    gates = gates_of(planned.json())
    invalid = gates["data_quality_invalid_share"]
    assert (invalid["op"], invalid["threshold"], invalid["value"]) == ("<=", 0.01, 2 / 40)
    assert invalid["source"] == SOURCE and not invalid["passed"]
    assert gates["data_quality_schema_changes"]["passed"]
    assert gates["data_quality_schema_changes"]["value"] == 0
    assert "blocked" in run_cli("--repo", applied.root, "apply", "--now", NOW, expect=3).out


def test_a_bad_data_quality_gate_is_a_spec_error(applied: MonitorRepo) -> None:
    gate = {"data_quality": {"max_invalid_share": 2}}
    applied.deployment("clf-prod", version="1.1.0", promotion={"gates": gate})
    validated = run_cli("--repo", applied.root, "validate")
    out = validated.seen
    assert validated.code != 0
    assert "deployments/clf-prod.yaml" in out
    assert "data_quality.max_invalid_share: Input should be less than or equal to 1" in out
    assert "Traceback" not in out
