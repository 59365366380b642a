"""`monitor` end to end in small git repositories: window, labels, metrics, reports, commits."""

from __future__ import annotations

import json
import math
import shutil
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics as skm

from mlops_gitops import api
from mlops_gitops.monitor import metrics
from mlops_gitops.monitor.run import MonitorOutcome
from tests.monitor.helpers import (
    NOW,
    START,
    MonitorRepo,
    append,
    commit_count,
    flat_frame,
    jsonl,
    read_report,
    record,
    write_csv,
)
from tests.support.cli import run_cli
from tests.support.git import git
from tests.support.golden import assert_golden

GOLDEN = Path(__file__).parent / "data" / "golden"
LOGS = "logs/clf-prod"
LABELS = "labels/clf-prod"


def monitoring(**overrides: Any) -> dict[str, Any]:
    return {"predictions": f"{LOGS}/", "labels": f"{LABELS}/", "window": {"records": 1000}} | (
        overrides
    )


@pytest.fixture
def repo(tmp_path: Path) -> MonitorRepo:
    """clf-prod (stable 1.0.0, canary 1.1.0) monitored; quiet has no logs; plain no monitoring."""
    spec = MonitorRepo(tmp_path / "repo")
    spec.deployment("clf-prod", canary=("1.1.0", 20), monitoring=monitoring())
    spec.deployment("quiet", monitoring={"predictions": "logs/quiet/"})
    spec.deployment("plain", model="reg")
    spec.init_git()
    return spec


def run(root: Path, now: str = NOW, **kw: Any) -> dict[str, MonitorOutcome]:
    return {o.deployment: o for o in api.monitor(root, now=now, **kw)}


def log(root: Path, records: Any, name: str = "p.jsonl") -> None:
    append(root / LOGS / name, jsonl(records))


# ---------------------------------------------------------------- which deployments run


def test_deployments_without_logs_are_skipped(repo: MonitorRepo) -> None:
    root = repo.root
    outcomes = run(root)
    assert sorted(outcomes) == ["clf-prod", "plain", "quiet"]
    for name in outcomes:
        assert not outcomes[name].changed and outcomes[name].commit is None
    assert "no prediction logs at logs/quiet/" in outcomes["quiet"].reason
    assert "no monitoring.predictions" in outcomes["plain"].reason
    assert not (root / "reports").exists()
    assert commit_count(root) == 1
    log(root, [record(0)])
    outcomes = run(root)
    assert outcomes["clf-prod"].changed and not outcomes["quiet"].changed
    assert sorted(p.name for p in (root / "reports").iterdir()) == ["clf-prod"]


def test_only_the_named_deployment(repo: MonitorRepo) -> None:
    log(repo.root, [record(0)])
    assert list(run(repo.root, deployment="clf-prod")) == ["clf-prod"]
    done = run_cli("--repo", repo.root, "monitor", "--deployment", "nope")
    assert done.code == 1 and "'nope' is not defined" in done.seen


# ---------------------------------------------------------------- commits


def test_commit_trailers_and_no_second_commit_without_new_data(repo: MonitorRepo) -> None:
    root = repo.root
    log(root, [record(i, "1.0.0" if i % 4 else "1.1.0", label=i % 2) for i in range(20)])
    first = run(root)["clf-prod"]
    assert first.changed and first.commit and first.new_records == 20
    body = git(root, "log", "-1", "--format=%B")
    assert body.startswith("mlops-gitops: monitor clf-prod\n")
    for trailer in (
        "Mlops-Monitor: clf-prod",
        "Mlops-Records: 20",
        "Mlops-New-Records: 20",
        "Mlops-Dataset-Drift: false",
        "Mlops-Error-Rate: 1.0.0=0.0000",
        "Mlops-Error-Rate: 1.1.0=0.0000",
    ):
        assert trailer in body.splitlines()
    committed = git(root, "show", "--name-only", "--format=", "HEAD").split()
    assert "reports/clf-prod/latest.json" in committed
    assert "reports/clf-prod/latest.md" in committed
    assert ".mlops/state/monitor/clf-prod.json" in committed
    assert any(p.startswith(".mlops/state/profiles/") for p in committed)
    tracked = git(root, "status", "--porcelain", "--untracked-files=no")
    assert tracked == ""
    snapshot = {p: p.read_bytes() for p in (root / "reports").rglob("*") if p.is_file()}
    count = commit_count(root)
    # twice more, even with a later clock: nothing new, nothing written, no commit
    for now in (NOW, "2026-11-29T00:00:00Z"):
        again = run(root, now=now)["clf-prod"]
        assert not again.changed and again.commit is None and again.reason == "no new records"
        assert commit_count(root) == count
        assert {p: p.read_bytes() for p in snapshot} == snapshot
    # a complete new record is news
    log(root, [record(20)])
    third = run(root)["clf-prod"]
    assert third.commit and third.new_records == 1
    assert read_report(root, "clf-prod")["window"]["records"] == 21


def test_a_partial_record_alone_is_not_news(repo: MonitorRepo) -> None:
    root = repo.root
    log(root, [record(0)])
    assert run(root)["clf-prod"].commit
    append(root / LOGS / "p.jsonl", jsonl([record(1)])[:30])
    assert not run(root)["clf-prod"].changed


def test_no_commit_flag_writes_reports_only(repo: MonitorRepo) -> None:
    log(repo.root, [record(0)])
    outcome = run(repo.root, commit=False)["clf-prod"]
    assert outcome.changed and outcome.commit is None
    assert commit_count(repo.root) == 1
    assert (repo.root / "reports/clf-prod/latest.json").exists()


def test_fresh_clone_rebuilds_the_window_and_changes_nothing(
    repo: MonitorRepo, tmp_path: Path
) -> None:
    root = repo.root
    log(root, [record(i, "1.0.0" if i % 4 else "1.1.0", label=i % 2) for i in range(30)])
    append(root / LOGS / "p.jsonl", "not json\n")
    append(root / LABELS / "l.jsonl", jsonl({"request_id": f"r{i}", "label": 1} for i in range(5)))
    git(root, "add", "logs", "labels")
    git(root, "commit", "-q", "-m", "logs")
    assert run(root)["clf-prod"].commit
    log(root, [record(i) for i in range(30, 40)], name="q.jsonl")
    git(root, "add", "logs")
    git(root, "commit", "-q", "-m", "more logs")
    assert run(root)["clf-prod"].commit
    report = (root / "reports/clf-prod/latest.json").read_bytes()
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    assert not (clone / ".mlops" / "cache").exists()
    count = commit_count(clone)
    outcome = run(clone)["clf-prod"]
    assert not outcome.changed and outcome.commit is None
    assert commit_count(clone) == count
    assert git(clone, "status", "--porcelain") == ""
    assert (clone / "reports/clf-prod/latest.json").read_bytes() == report
    cache = clone / ".mlops" / "cache"  # monitoring caches nothing in the work tree
    assert not (cache / "monitor").exists() and not (cache / "references.json").exists()
    # the rebuilt window is the real one: a new record gives the same numbers in both
    for where in (root, clone):
        log(where, [record(40)], name="q.jsonl")
        assert run(where)["clf-prod"].commit
    original, rebuilt = read_report(root, "clf-prod"), read_report(clone, "clf-prod")
    assert rebuilt["window"] == original["window"]
    assert rebuilt["versions"] == original["versions"]
    assert rebuilt["drift"] == original["drift"]


def test_a_cache_in_the_work_tree_is_ignored_with_a_warning(repo: MonitorRepo) -> None:
    """Old versions kept the window in .mlops/cache; a cache there now is never read."""
    root = repo.root
    log(root, [record(i) for i in range(5)])
    run(root)
    cache = root / ".mlops/cache/monitor"
    cache.mkdir(parents=True)
    (cache / "clf-prod.pkl").write_bytes(b"not a pickle")
    (cache / "clf-prod.json").write_text('{"watermarks": []}')
    (root / ".mlops/cache/references.json").write_text('{"data/reference/clf-1.0.0.csv": {}}')
    log(root, [record(5)])
    outcome = run(root)["clf-prod"]
    assert outcome.changed and outcome.commit
    assert read_report(root, "clf-prod")["window"]["records"] == 6
    assert any("ignored .mlops/cache/" in w for w in outcome.warnings)
    assert (cache / "clf-prod.pkl").read_bytes() == b"not a pickle"  # left alone, not rewritten


# ---------------------------------------------------------------- the window


def test_window_by_records_keeps_the_latest(repo: MonitorRepo) -> None:
    root = repo.root
    repo.deployment("clf-prod", monitoring=monitoring(window={"records": 10}))
    order = [3, 17, 0, 11, 5, 19, 8, 14, 1, 12, 6, 18, 9, 2, 15, 7, 4, 16, 10, 13]
    log(root, [record(i) for i in order[:12]])
    run(root)
    window = read_report(root, "clf-prod")["window"]
    assert window["records"] == 10 and window["policy"] == {"records": 10}
    kept = sorted(order[:12])[-10:]
    assert window["start"] == (START + timedelta(minutes=kept[0])).isoformat()
    assert window["end"] == (START + timedelta(minutes=kept[-1])).isoformat()
    log(root, [record(i) for i in order[12:]])
    outcome = run(root)["clf-prod"]
    assert outcome.new_records == 8
    window = read_report(root, "clf-prod")["window"]
    assert window["records"] == 10
    assert window["start"] == (START + timedelta(minutes=10)).isoformat()
    assert window["end"] == (START + timedelta(minutes=19)).isoformat()


def test_window_by_duration_ends_at_now(repo: MonitorRepo) -> None:
    """Records every 10 minutes from 00:00 to 03:50; a 1h window ending at 02:00."""
    root = repo.root
    repo.deployment("clf-prod", monitoring=monitoring(window={"duration": "1h"}))
    log(root, [record(i, step=600) for i in range(24)])
    run(root, now="2026-11-27T02:00:00Z")
    window = read_report(root, "clf-prod")["window"]
    assert window["policy"] == {"duration": "1h"}
    assert window["start"] == "2026-11-27T01:00:00+00:00"
    assert window["end"] == "2026-11-27T02:00:00+00:00"
    assert window["records"] == 7  # 01:00, 01:10, ..., 02:00 inclusive
    # records already read but later than --now count once the clock passes them
    log(root, [record(24, step=600)])
    run(root, now="2026-11-27T04:00:00Z")
    window = read_report(root, "clf-prod")["window"]
    assert (window["start"], window["end"]) == (
        "2026-11-27T03:00:00+00:00",
        "2026-11-27T04:00:00+00:00",
    )
    assert window["records"] == 7


def test_window_that_is_empty(repo: MonitorRepo) -> None:
    root = repo.root
    repo.deployment("clf-prod", monitoring=monitoring(window={"duration": "1h"}))
    log(root, [record(0)])
    outcome = run(root, now="2027-01-01T00:00:00Z")["clf-prod"]
    assert outcome.changed
    report = read_report(root, "clf-prod")
    assert report["window"]["records"] == 0 and report["versions"] == {}
    assert (root / "reports/clf-prod/latest.md").read_text().startswith("# Monitoring report")


# ---------------------------------------------------------------- labels


def test_delayed_labels_update_performance_on_the_next_run(repo: MonitorRepo) -> None:
    root = repo.root
    log(root, [record(i, prediction=1) for i in range(10)])
    run(root)
    report = read_report(root, "clf-prod")
    assert report["window"]["labelled"] == 0
    assert report["versions"]["1.0.0"]["performance"] == {"labelled": 0}
    assert "No labels joined yet" in (root / "reports/clf-prod/latest.md").read_text()
    count = commit_count(root)
    # ground truth for 6 of the 10 requests arrives; no new predictions
    append(
        root / LABELS / "l.jsonl", jsonl({"request_id": f"r{i}", "label": i % 2} for i in range(6))
    )
    outcome = run(root)["clf-prod"]
    assert outcome.changed and outcome.commit and commit_count(root) == count + 1
    performance = read_report(root, "clf-prod")["versions"]["1.0.0"]["performance"]
    assert performance["labelled"] == 6 and performance["accuracy"] == 0.5
    assert not run(root)["clf-prod"].changed  # the same labels again: nothing new
    # more labels, in CSV this time
    append(root / LABELS / "more.csv", "request_id,label\nr6,1\nr7,1\nr8\n")
    assert run(root)["clf-prod"].commit
    report = read_report(root, "clf-prod")
    performance = report["versions"]["1.0.0"]["performance"]
    assert performance["labelled"] == 8 and performance["accuracy"] == 5 / 8
    assert report["data_quality"]["malformed_labels"] == {
        "count": 1,
        "examples": [
            {"path": f"{LABELS}/more.csv", "line": 4, "error": "request_id or label missing"}
        ],
    }
    assert f"`{LABELS}/more.csv:4`" in (root / "reports/clf-prod/latest.md").read_text()


def test_labels_join_numeric_request_ids(repo: MonitorRepo) -> None:
    root = repo.root
    records = [record(i, prediction=1) for i in range(4)]
    for i, r in enumerate(records):
        r["request_id"] = 1000 + i
    log(root, records)
    append(root / LABELS / "l.jsonl", jsonl({"request_id": 1000 + i, "label": 1} for i in range(4)))
    run(root)
    assert read_report(root, "clf-prod")["versions"]["1.0.0"]["performance"]["accuracy"] == 1.0


# ---------------------------------------------------------------- numbers


CLASSIFICATION: dict[str, list[Any]] = {
    "labels": [1, 1, 1, 1, 0, 0, 0, 0, 1, 0],
    "predictions": [1, 1, 1, 0, 0, 0, 1, 0, 1, 1],
    "scores": [0.9, 0.8, 0.7, 0.4, 0.2, 0.1, 0.6, 0.3, 0.8, 0.55],
}


def classification_log() -> list[dict[str, Any]]:
    c = CLASSIFICATION
    records = [
        record(i, label=c["labels"][i], prediction=c["predictions"][i], score=c["scores"][i])
        for i in range(10)
    ]
    records.append(record(10, label=1, prediction=0, score=0.1, error="timeout"))
    records.append(record(11, prediction=1, score=0.9))  # never labelled
    for i, r in enumerate(records):
        r["latency_ms"] = float(i + 1)
    # the canary: 4 errors in 8 requests, 6 labelled, 3 right
    for j in range(8):
        records.append(
            record(
                20 + j,
                "1.1.0",
                error="boom" if j % 2 else None,
                label=(j % 3 == 0) * 1 if j < 6 else None,
                prediction=0,
            )
        )
    return records


def test_classification_metrics_by_hand_and_against_sklearn(repo: MonitorRepo) -> None:
    root = repo.root
    log(root, classification_log())
    run(root)
    stable = read_report(root, "clf-prod")["versions"]["1.0.0"]
    assert stable["records"] == 12 and stable["errors"] == 1
    assert stable["error_rate"] == pytest.approx(1 / 12, abs=1e-12)
    assert stable["role"] == "stable"
    perf = stable["performance"]
    # tp 4, fn 1, fp 2, tn 3
    hand = {"accuracy": 0.7, "precision": 4 / 6, "recall": 0.8, "f1": 16 / 22, "roc_auc": 23 / 25}
    for key, value in hand.items():
        assert perf[key] == pytest.approx(value, abs=1e-12), key
    y, p, s = CLASSIFICATION["labels"], CLASSIFICATION["predictions"], CLASSIFICATION["scores"]
    assert perf["accuracy"] == pytest.approx(skm.accuracy_score(y, p), abs=1e-12)
    assert perf["precision"] == pytest.approx(skm.precision_score(y, p), abs=1e-12)
    assert perf["recall"] == pytest.approx(skm.recall_score(y, p), abs=1e-12)
    assert perf["f1"] == pytest.approx(skm.f1_score(y, p), abs=1e-12)
    assert perf["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert perf["labelled"] == 10 and perf["positive_label"] == "1"
    assert perf["confusion_matrix"] == {"labels": ["0", "1"], "matrix": [[3, 2], [1, 4]]}
    assert perf["confusion_matrix"]["matrix"] == skm.confusion_matrix(y, p).tolist()
    latencies = np.arange(1.0, 13.0)
    assert stable["latency_ms"] == {
        "p50": 6.5,
        "p95": pytest.approx(float(np.percentile(latencies, 95)), abs=1e-12),
        "p99": pytest.approx(float(np.percentile(latencies, 99)), abs=1e-12),
    }
    assert stable["latency_ms"]["p95"] == pytest.approx(11.45, abs=1e-12)
    canary = read_report(root, "clf-prod")["versions"]["1.1.0"]
    assert canary["role"] == "canary" and canary["error_rate"] == 0.5
    assert canary["performance"]["labelled"] == 3  # labelled and not errored: j = 0, 2, 4


def test_canary_comparison_against_scipy(repo: MonitorRepo) -> None:
    root = repo.root
    log(root, classification_log())
    run(root)
    comparison = read_report(root, "clf-prod")["comparison"]
    assert comparison["available"] and comparison["canary"] == "1.1.0"
    test = comparison["error_rate"]
    assert test["n"] == [8, 12]
    assert (test["a"], test["b"]) == (0.5, pytest.approx(1 / 12, abs=1e-12))
    chi2, p_value, _, _ = stats.chi2_contingency([[4, 4], [1, 11]], correction=False)
    assert test["p_value"] == pytest.approx(p_value, rel=1e-9)
    assert test["z"] ** 2 == pytest.approx(chi2, rel=1e-9)
    pooled = 5 / 20
    z = (0.5 - 1 / 12) / math.sqrt(pooled * (1 - pooled) * (1 / 8 + 1 / 12))
    assert test["z"] == pytest.approx(z, rel=1e-12)
    h = 2 * math.asin(math.sqrt(0.5)) - 2 * math.asin(math.sqrt(1 / 12))
    assert test["effect_size"]["cohens_h"] == pytest.approx(h, rel=1e-12)
    # accuracy: canary 1 of 3 right (labels 1, 0, 0 against prediction 0), stable 7 of 10
    accuracy = comparison["accuracy"]
    _, p_acc, _, _ = stats.chi2_contingency([[2, 1], [7, 3]], correction=False)
    assert accuracy["n"] == [3, 10] and accuracy["a"] == pytest.approx(2 / 3)
    assert accuracy["p_value"] == pytest.approx(p_acc, rel=1e-9)
    markdown = (root / "reports/clf-prod/latest.md").read_text()
    assert "significantly worse than stable" in markdown  # error rate, p < 0.05
    assert p_value < 0.05


def test_comparison_when_the_canary_has_no_records(repo: MonitorRepo) -> None:
    log(repo.root, [record(0)])
    run(repo.root)
    comparison = read_report(repo.root, "clf-prod")["comparison"]
    assert comparison == {
        "available": False,
        "reason": "no records for the stable or canary version",
    }


def test_regression_metrics(repo: MonitorRepo) -> None:
    root = repo.root
    repo.deployment(
        "reg-prod", model="reg", monitoring={"predictions": "logs/reg/", "window": {"records": 50}}
    )
    y = [3.0, -0.5, 2.0, 7.0]
    p = [2.5, 0.0, 2.0, 8.0]
    records = [record(i, label=y[i], prediction=p[i]) for i in range(4)]
    records.append(record(4, label="n/a", prediction=1.0))  # a label that is not a number
    append(root / "logs/reg/p.jsonl", jsonl(records))
    run(root, deployment="reg-prod")
    perf = read_report(root, "reg-prod")["versions"]["1.0.0"]["performance"]
    assert perf["mae"] == pytest.approx(0.5, abs=1e-12)
    assert perf["rmse"] == pytest.approx(math.sqrt(0.375), abs=1e-12)
    assert perf["r2"] == pytest.approx(skm.r2_score(y, p), abs=1e-12)
    assert perf["mae"] == pytest.approx(skm.mean_absolute_error(y, p), abs=1e-12)
    assert perf["labelled"] == 4
    assert read_report(root, "reg-prod")["drift"]["features"] == {}  # no reference data


def test_metrics_module_against_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    scores = np.round(rng.random(200), 2)  # ties
    pred = (scores > 0.5).astype(int)
    out = metrics.classification(y, pred, scores)
    assert out["roc_auc"] == pytest.approx(skm.roc_auc_score(y, scores), abs=1e-12)
    assert out["f1"] == pytest.approx(skm.f1_score(y, pred), abs=1e-12)
    # 1, 1.0 and "1" are one class; NaN scores are left out of ROC-AUC
    mixed = metrics.classification(
        np.array([1, 0, 1.0, "0"], dtype=object),
        np.array([1, 0, 0, 0]),
        np.array([0.9, 0.1, np.nan, 0.2]),
    )
    assert mixed["accuracy"] == 0.75 and mixed["roc_auc"] == 1.0
    # three classes: macro averages
    y3 = rng.integers(0, 3, 100)
    p3 = rng.integers(0, 3, 100)
    multi = metrics.classification(y3, p3, None)
    assert multi["average"] == "macro"
    assert multi["precision"] == pytest.approx(
        skm.precision_score(y3, p3, average="macro"), abs=1e-12
    )
    assert multi["recall"] == pytest.approx(skm.recall_score(y3, p3, average="macro"), abs=1e-12)
    assert multi["f1"] == pytest.approx(skm.f1_score(y3, p3, average="macro"), abs=1e-12)
    # text labels: the positive class is the last in order; one class only: no ROC-AUC
    text = metrics.classification(
        np.array(["spam", "ham", "spam"]), np.array(["spam", "spam", "spam"]), None
    )
    assert text["positive_label"] == "spam" and text["precision"] == pytest.approx(2 / 3)
    single = metrics.classification(np.array([1, 1]), np.array([1, 0]), np.array([0.9, 0.2]))
    assert "roc_auc" not in single and single["recall"] == 0.5
    assert metrics.classification(np.array([]), np.array([]), None) == {"labelled": 0}
    reg = metrics.regression(np.array([1.0, 1.0]), np.array([1.0, 2.0]))
    assert reg["r2"] is None and reg["mae"] == 0.5
    assert metrics.latency(np.array([np.nan])) == {"p50": None, "p95": None, "p99": None}
    same = metrics.two_proportions(0, 10, 0, 10)
    assert same["p_value"] == 1.0 and same["z"] == 0.0
    assert metrics.two_proportions(1, 0, 1, 10)["p_value"] is None


# ---------------------------------------------------------------- formats


def test_csv_and_parquet_logs_make_the_same_report(tmp_path: Path) -> None:
    records = [
        record(i, "1.0.0" if i % 4 else "1.1.0", label=i % 2, score=(i % 10) / 10)
        for i in range(40)
    ]
    reports = {}
    for kind in ("jsonl", "csv", "parquet"):
        spec = MonitorRepo(tmp_path / kind)
        spec.deployment("clf-prod", canary=("1.1.0", 20), monitoring=monitoring())
        path = spec.root / LOGS / f"p.{kind}"
        if kind == "jsonl":
            append(path, jsonl(records))
        elif kind == "csv":
            write_csv(path, records, ["x", "colour"])
        else:
            path.parent.mkdir(parents=True)
            flat_frame(records).to_parquet(path, index=False)
        run(spec.root, commit=False)
        report = read_report(spec.root, "clf-prod")
        report["drift"]["policy"].pop("reference_sha256", None)
        reports[kind] = report
    assert reports["csv"] == reports["jsonl"]
    assert reports["parquet"] == reports["jsonl"]
    assert reports["jsonl"]["window"]["records"] == 40


# ---------------------------------------------------------------- malformed records


def test_a_damaged_parquet_page_keeps_what_was_read_before_it(repo: MonitorRepo) -> None:
    """Batches are decoded a step ahead on another thread: the damage still comes in its turn,
    as one malformed record, after the rows before it."""
    import pyarrow.parquet as pq

    path = repo.root / LOGS / "p.parquet"
    path.parent.mkdir(parents=True)
    flat_frame([record(i) for i in range(300)]).to_parquet(
        path, index=False, row_group_size=100, compression="none"
    )
    column = pq.ParquetFile(path).metadata.row_group(2).column(0)
    with open(path, "r+b") as handle:  # the third group's first page header, overwritten
        handle.seek(column.data_page_offset)
        handle.write(b"\xff" * 32)
    run(repo.root, commit=False)
    report = read_report(repo.root, "clf-prod")
    assert report["window"]["records"] == 200
    quality = report["data_quality"]
    assert quality["malformed_records"] == 1
    assert quality["malformed_examples"][0]["error"].startswith("unreadable Parquet data")


def test_malformed_records_are_reported_and_never_fatal(repo: MonitorRepo) -> None:
    root = repo.root
    path = root / LOGS / "p.jsonl"
    append(path, jsonl([record(0)]))
    append(path, b"{broken\n\x00\x00\n")
    append(path, jsonl([record(1) | {"latency_ms": "slow"}, record(2)]))
    first = run(root)["clf-prod"]
    assert first.commit
    report = read_report(root, "clf-prod")
    quality = report["data_quality"]
    assert quality["malformed_records"] == 3
    assert [(e["path"], e["line"]) for e in quality["malformed_examples"]] == [
        (f"{LOGS}/p.jsonl", 2),
        (f"{LOGS}/p.jsonl", 3),
        (f"{LOGS}/p.jsonl", 4),
    ]
    assert report["window"]["records"] == 2
    markdown = (root / "reports/clf-prod/latest.md").read_text()
    assert f"`{LOGS}/p.jsonl:4`: latency_ms is not a number" in markdown
    assert "3 malformed log records were skipped" in markdown
    # only malformed lines appended: reported (and committed), window unchanged
    append(path, b"[]\n")
    second = run(root)["clf-prod"]
    assert second.commit
    assert read_report(root, "clf-prod")["data_quality"]["malformed_examples"] == [
        {"path": f"{LOGS}/p.jsonl", "line": 6, "error": "not a JSON object"}
    ]


def test_hostile_values_do_not_break_the_report(repo: MonitorRepo) -> None:
    root = repo.root
    weird = [
        record(0, x=float("inf"), colour="<script>|x|</script>"),
        record(1) | {"request_id": {"a": 1}, "prediction": [1, 2], "label": {"x": 1}},
        record(2) | {"latency_ms": 1e300, "score": -1e308},
        record(3, "../../etc/passwd"),
        record(4, "1.0.0") | {"error": ""},
    ]
    log(root, weird)
    outcome = run(root)["clf-prod"]
    assert outcome.changed
    report = read_report(root, "clf-prod")
    assert report["window"]["records"] == 5
    assert "../../etc/passwd" in report["versions"]
    for svg in (root / "reports/clf-prod/charts").glob("*.svg"):
        ET.fromstring(svg.read_text())


# ---------------------------------------------------------------- reports and charts


def normalized(report: dict[str, Any]) -> Any:
    """Floats to 9 significant digits; the reference hash replaced."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: "<sha256>" if k == "reference_sha256" else walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, float):
            return float(f"{value:.9g}")
        return value

    return walk(report)


def golden_log() -> list[dict[str, Any]]:
    """48 requests over four hours: the canary slower and more error-prone; x drifts upward."""
    records = []
    for i in range(48):
        version = "1.1.0" if i % 4 == 0 else "1.0.0"
        records.append(
            record(
                i,
                version,
                step=300,
                x=10.0 + (i % 7) - 3.0 + (4.0 if i >= 24 else 0.0),
                label=(i // 2) % 2,
                prediction=(i // 3) % 2,
                score=round(((i * 7) % 10) / 10, 1),
                latency=float(3 + (i % 5) + (6 if version == "1.1.0" else 0)),
                error="timeout" if i % 12 == 0 else None,
            )
        )
    return records


def test_golden_report_files(repo: MonitorRepo) -> None:
    root = repo.root
    log(root, golden_log())
    append(root / LOGS / "p.jsonl", b"not json\n")
    run(root)
    folder = root / "reports/clf-prod"
    actual = {
        "latest.json": json.dumps(normalized(read_report(root, "clf-prod")), indent=2) + "\n",
        "latest.md": (folder / "latest.md").read_text(),
    }
    for name, text in actual.items():
        assert_golden(GOLDEN / f"clf-prod.{name}", text)
    charts = sorted(p.name for p in (folder / "charts").iterdir())
    assert charts == ["colour.svg", "latency.svg", "volume.svg", "x.svg"]
    for chart in charts:
        assert f"charts/{chart}" in actual["latest.md"]
        root_element = ET.fromstring((folder / "charts" / chart).read_text())
        assert root_element.tag == "{http://www.w3.org/2000/svg}svg"


def test_markdown_reads_well(repo: MonitorRepo) -> None:
    root = repo.root
    log(root, golden_log())
    run(root)
    text = (root / "reports/clf-prod/latest.md").read_text()
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == [
        "# Monitoring report: clf-prod",
        "## Summary",
        "## Recommendations",
        "## Drift",
        "## Metrics per version",
        "### 1.0.0 (stable)",
        "### 1.1.0 (canary)",
        "## Canary vs stable",
        "## Model outputs",
        "## Data quality",
    ]
    assert "\n\n\n" not in text
    # drift table sorted by severity: drifted features first
    rows = [
        line
        for line in text.splitlines()
        if line.startswith("| x ") or line.startswith("| colour ")
    ]
    assert rows[0].startswith("| x ") and "**yes**" in rows[0]


def test_charts_of_features_that_stop_drifting_are_removed(repo: MonitorRepo) -> None:
    root = repo.root
    repo.deployment("clf-prod", canary=("1.1.0", 20), monitoring=monitoring(window={"records": 30}))
    git(root, "commit", "-q", "-am", "window of 30")
    log(root, [record(i, x=30.0 + i % 5) for i in range(30)])
    run(root)
    chart = root / "reports/clf-prod/charts/x.svg"
    assert chart.exists()
    log(root, [record(i) for i in range(30, 60)])  # x back to its reference distribution
    outcome = run(root)["clf-prod"]
    assert not chart.exists()
    assert "reports/clf-prod/charts/x.svg" in git(
        root, "show", "--name-only", "--format=", outcome.commit or "HEAD"
    )
    assert git(root, "status", "--porcelain", "--untracked-files=no") == ""


def test_feature_named_like_a_service_chart(repo: MonitorRepo) -> None:
    """A drifted feature called `latency` must not overwrite (or be) the latency chart."""
    root = repo.root
    ref = pd.DataFrame({"latency": np.linspace(0, 1, 200), "target": [0, 1] * 100})
    ref.to_csv(root / "data/reference/clf-1.0.0.csv", index=False)
    records = [record(i) for i in range(40)]
    for r in records:
        r["features"] = {"latency": 50.0 + r["latency_ms"]}
    log(root, records)
    run(root)
    folder = root / "reports/clf-prod"
    report = read_report(root, "clf-prod")
    assert report["drift"]["features"]["latency"]["drifted"]
    text = (folder / "latest.md").read_text()
    links = {line.split("](")[1].split(")")[0] for line in text.splitlines() if "[chart](" in line}
    (feature_chart,) = links
    assert feature_chart not in ("charts/latency.svg", "charts/volume.svg")
    assert "latency: reference vs current" in (folder / feature_chart).read_text()
    assert "p95 latency" in (folder / "charts/latency.svg").read_text()


def test_cli_text_and_json(repo: MonitorRepo) -> None:
    root = repo.root
    log(root, classification_log())
    done = run_cli("--repo", root, "monitor", "--now", NOW, "--no-commit")
    assert done.code == 0
    assert "clf-prod: 20 records (20 new), dataset drift" in done.seen
    assert "1.0.0: 12 records, error rate 0.083, accuracy 0.700" in done.seen
    assert "report: reports/clf-prod/latest.md" in done.seen
    assert "quiet: unchanged (no prediction logs at logs/quiet/ yet)" in done.seen
    log(root, [record(99)])
    done = run_cli("--repo", root, "monitor", "--now", NOW, "--format", "json")
    data = done.json()
    (entry,) = [d for d in data["deployments"] if d["deployment"] == "clf-prod"]
    assert entry["changed"] and entry["new_records"] == 1 and len(entry["commit"]) == 40
    assert entry["report"] == "reports/clf-prod/latest.json"


def test_versions_leaving_the_window_leave_the_report(repo: MonitorRepo) -> None:
    root = repo.root
    repo.deployment("clf-prod", canary=("1.1.0", 20), monitoring=monitoring(window={"records": 5}))
    log(root, [record(i, "1.1.0") for i in range(5)])
    run(root)
    log(root, [record(i, "1.0.0") for i in range(5, 10)])
    outcome = run(root)["clf-prod"]
    assert outcome.commit
    report = read_report(root, "clf-prod")
    assert sorted(report["versions"]) == ["1.0.0"]
    assert report["versions"]["1.0.0"]["records"] == 5


def test_spec_change_recomputes_without_new_data(repo: MonitorRepo) -> None:
    root = repo.root
    log(root, [record(i) for i in range(10)])
    run(root)
    repo.deployment(
        "clf-prod",
        canary=("1.1.0", 20),
        monitoring=monitoring(drift={"method": "psi", "correction": "none"}),
    )
    outcome = run(root)["clf-prod"]
    assert outcome.commit
    assert read_report(root, "clf-prod")["drift"]["features"]["x"]["method"] == "psi"


def test_logs_removed_after_a_run(repo: MonitorRepo) -> None:
    root = repo.root
    log(root, [record(0)])
    run(root)
    shutil.rmtree(root / LOGS)
    outcome = run(root)["clf-prod"]
    assert not outcome.changed


def test_a_version_gone_from_the_window_within_one_read(repo: MonitorRepo) -> None:
    root = repo.root
    repo.deployment("clf-prod", canary=("1.1.0", 20), monitoring=monitoring(window={"records": 5}))
    log(root, [record(i, "1.1.0" if i < 5 else "1.0.0") for i in range(10)])
    run(root)
    report = read_report(root, "clf-prod")
    assert sorted(report["versions"]) == ["1.0.0"]
    assert report["comparison"]["available"] is False


def test_text_from_the_logs_is_inert_in_markdown(repo: MonitorRepo) -> None:
    root = repo.root
    evil = "9.9|x\n# Injected <img src=x>"
    records = [record(0), record(1, evil)]
    records[1]["features"]["a|b`c"] = 1.0
    log(root, records)
    append(root / LOGS / "p.jsonl", '{"timestamp": "2026-11-27T00:00:00Z", "model_version": "|"}\n')
    run(root)
    text = (root / "reports/clf-prod/latest.md").read_text()
    assert not [line for line in text.splitlines() if line.startswith("# Injected")]
    assert "<img" not in text
    summary = [line for line in text.splitlines() if line.startswith("| 9.9")]
    assert summary == [summary[0]] and summary[0].replace("\\|", "").count("|") == 3
    assert "a\\|b'c 50.0%" in text
    assert read_report(root, "clf-prod")["versions"][evil]["records"] == 1
