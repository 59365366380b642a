"""`report history`: a metric's time series read back from the git history of latest.json."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_gitops import api
from mlops_gitops.monitor.history import extract
from tests.monitor.helpers import (
    MonitorRepo,
    append,
    jsonl,
    record,
)
from tests.support.cli import run_cli
from tests.support.git import git

LOGS = "logs/clf-prod"
RUNS = [  # (now, records added, stable errors among them, canary errors among them)
    ("2026-11-27T01:00:00Z", range(0, 20), 0, 0),
    ("2026-11-27T02:00:00Z", range(20, 40), 2, 1),
    ("2026-11-27T03:00:00Z", range(40, 60), 4, 4),
]


@pytest.fixture(scope="module")
def history_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three monitor commits (with an unrelated commit between), shared by the tests below."""
    spec = MonitorRepo(tmp_path_factory.mktemp("history") / "repo")
    spec.deployment(
        "clf-prod",
        canary=("1.1.0", 20),
        monitoring={"predictions": f"{LOGS}/", "window": {"records": 20}},
    )
    spec.init_git()
    for n, (now, span, stable_errors, canary_errors) in enumerate(RUNS):
        records = []
        s = c = 0
        for i in span:
            canary = i % 4 == 0
            if canary:
                error = "boom" if c < canary_errors else None
                c += 1
            else:
                error = "boom" if s < stable_errors else None
                s += 1
            records.append(
                record(i, "1.1.0" if canary else "1.0.0", error=error, latency=float(n + 1))
            )
        append(spec.root / LOGS / "p.jsonl", jsonl(records))
        (outcome,) = [o for o in api.monitor(spec.root, now=now) if o.deployment == "clf-prod"]
        assert outcome.commit
        if n == 0:
            (spec.root / "README.md").write_text("unrelated\n")
            git(spec.root, "add", "README.md")
            git(spec.root, "commit", "-q", "-m", "docs")
    return spec.root


def test_history_json(history_repo: Path) -> None:
    done = run_cli(
        "--repo",
        history_repo,
        "report",
        "history",
        "clf-prod",
        "--metric",
        "error_rate",
        "--format",
        "json",
    )
    assert done.code == 0
    data = done.json()
    assert data["deployment"] == "clf-prod" and data["metric"] == "error_rate"
    commits = git(history_repo, "log", "--reverse", "--format=%H", "--", "reports").split()
    assert [p["commit"] for p in data["points"]] == commits
    assert [p["time"] for p in data["points"]] == [
        "2026-11-27T01:00:00+00:00",
        "2026-11-27T02:00:00+00:00",
        "2026-11-27T03:00:00+00:00",
    ]
    assert [p["values"] for p in data["points"]] == [
        {"1.0.0": 0.0, "1.1.0": 0.0},
        {"1.0.0": 2 / 15, "1.1.0": 1 / 5},
        {"1.0.0": 4 / 15, "1.1.0": 4 / 5},
    ]


def test_history_text(history_repo: Path) -> None:
    done = run_cli(
        "--repo", history_repo, "report", "history", "clf-prod", "--metric", "error_rate"
    )
    assert done.code == 0
    lines = done.seen.splitlines()
    assert lines[0].split() == ["TIME", "COMMIT", "1.0.0", "1.1.0"]
    assert [line.split()[2:] for line in lines[1:]] == [
        ["0", "0"],
        ["0.1333", "0.2"],
        ["0.2667", "0.8"],
    ]
    shas = git(history_repo, "log", "--reverse", "--format=%h", "--abbrev=10", "--", "reports")
    assert [line.split()[1] for line in lines[1:]] == shas.split()
    assert lines[1].startswith("2026-11-27T01:00:00+00:00")


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("records", [20, 20, 20]),
        ("drift_share", [0.0, 0.0, 0.0]),
        ("latency_p95", [1.0, 2.0, 3.0]),
        ("latency_p95_ms", [1.0, 2.0, 3.0]),
        ("window.records", [20, 20, 20]),
        ("malformed_records", [0, 0, 0]),
    ],
)
def test_history_of_other_metrics(history_repo: Path, metric: str, expected: list[float]) -> None:
    series = api.report_history(history_repo, "clf-prod", metric)
    values = [next(iter(sorted(p["values"].items())))[1] for p in series["points"]]
    assert values == expected


def test_history_of_a_feature_statistic(history_repo: Path) -> None:
    series = api.report_history(history_repo, "clf-prod", "drift.x")
    assert len(series["points"]) == 3
    assert all(isinstance(p["values"][""], float) for p in series["points"])


def test_unknown_metric_and_unknown_report(history_repo: Path) -> None:
    done = run_cli("--repo", history_repo, "report", "history", "clf-prod", "--metric", "nope")
    assert done.code == 0 and "No values of 'nope' in the report history." in done.seen
    done = run_cli("--repo", history_repo, "report", "history", "other", "--metric", "records")
    assert done.code == 1 and "no committed report for 'other'" in done.seen


def test_damaged_and_deleted_reports_are_skipped(tmp_path: Path) -> None:
    spec = MonitorRepo(tmp_path / "repo")
    spec.deployment("clf-prod", monitoring={"predictions": f"{LOGS}/"})
    spec.init_git()
    append(spec.root / LOGS / "p.jsonl", jsonl([record(0)]))
    api.monitor(spec.root, now="2026-11-27T01:00:00Z")
    report = spec.root / "reports/clf-prod/latest.json"
    report.write_text("{ damaged")
    git(spec.root, "commit", "-q", "-am", "damage")
    report.unlink()
    git(spec.root, "commit", "-q", "-am", "delete")
    append(spec.root / LOGS / "p.jsonl", jsonl([record(1)]))
    api.monitor(spec.root, now="2026-11-27T02:00:00Z")
    series = api.report_history(spec.root, "clf-prod", "records")
    assert [(p["time"], p["values"]) for p in series["points"]] == [
        ("2026-11-27T01:00:00+00:00", {"": 1}),
        ("2026-11-27T02:00:00+00:00", {"": 2}),
    ]


def test_extract_shapes() -> None:
    report = {
        "window": {"records": 3},
        "drift": {"share_drifted": 0.5, "features": {"x": {"statistic": 0.2}}},
        "versions": {
            "1.0.0": {
                "error_rate": 0.1,
                "latency_ms": {"p50": 1.0},
                "performance": {"accuracy": 0.9},
            }
        },
    }
    assert extract(report, "share_drifted") == {"": 0.5}
    assert extract(report, "accuracy") == {"1.0.0": 0.9}
    assert extract(report, "latency_p50_ms") == {"1.0.0": 1.0}
    assert extract(report, "drift.x") == {"": 0.2}
    assert extract(report, "versions.1.0.0") == {}  # dotted paths do not split versions
    assert extract(report, "missing.path") == {}
