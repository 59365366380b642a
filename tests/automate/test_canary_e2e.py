"""Automatic canary progression end to end: reconcile every simulated hour in a real repo.

cancer-staging serves 1.1.0 with 1.2.0 on canary; the test gives the canary steps and an
analysis, writes an hour of labelled predictions before each reconcile, and reads what the
tool committed: the spec edits, their trailers, the progress record, the alerts.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.cli import run_cli
from tests.support.git import commit_all, git, head, subjects, trailers

STAGING = "deployments/cancer-staging.yaml"
START = datetime(2026, 11, 27, 12, tzinfo=UTC)
CANARY_BLOCK = """canary:
    version: "1.2.0"
    traffic: 10                     # a person starts it; reconcile moves it
    steps: [10, 25, 50, 100]
    analysis:
      interval: 1h
      min_samples: 200
      max_failures: 2
      checks:
        - {compare: accuracy, test: non_inferiority, margin: 0.05}
        - {compare: latency_ms, test: non_inferiority, margin: 0.1}
        - {compare: latency_p99_ms, max_ratio: 1.5}
        - {metric: error_rate, max: 0.02}"""


def start_canary(repo: Path) -> None:
    path = repo / STAGING
    text = path.read_text()
    text = text.replace('canary: {version: "1.2.0", traffic: 50}', CANARY_BLOCK)
    text = text.replace(
        "    predictions: logs/cancer-staging/",
        "    predictions: logs/cancer-staging/\n    labels: labels/cancer-staging/",
    )
    path.write_text(text)
    commit_all(repo, "cancer-staging: canary 1.2.0 with automatic analysis")


def write_hour(repo: Path, hour: int, canary_share: float, accuracy: dict[str, float]) -> None:
    """3,000 labelled predictions over one hour, each version right at its own rate."""
    rng = random.Random(hour)
    logs, labels = repo / "logs/cancer-staging", repo / "labels/cancer-staging"
    logs.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    begin = START + timedelta(hours=hour)
    with open(logs / "p.jsonl", "a") as log, open(labels / "l.jsonl", "a") as truth:
        for i in range(3000):
            version = "1.2.0" if rng.random() < canary_share else "1.1.0"
            label = rng.randrange(2)
            right = rng.random() < accuracy[version]
            request = f"h{hour}-{i}"
            record = {
                "timestamp": (begin + timedelta(seconds=1.2 * i)).isoformat(),
                "request_id": request,
                "model_version": version,
                "features": {"mean_radius": 14.0 + rng.random()},
                "prediction": label if right else 1 - label,
                "latency_ms": round(rng.lognormvariate(1.6, 0.4), 3),
            }
            log.write(json.dumps(record) + "\n")
            truth.write(json.dumps({"request_id": request, "label": label}) + "\n")


def traffic(repo: Path) -> int | None:
    for line in (repo / STAGING).read_text().splitlines():
        if line.strip().startswith("traffic:"):
            return int(line.split(":")[1].split()[0])
    return None


def run_hours(repo: Path, hours: int, accuracy: dict[str, float]) -> list[dict[str, Any]]:
    decisions = []
    for hour in range(hours):
        share = (traffic(repo) or 0) / 100
        if share == 0:
            break
        write_hour(repo, hour, share, accuracy)
        now = (START + timedelta(hours=hour + 1)).isoformat()
        result = reconcile_any(repo, now)
        decisions += [c for c in result["canaries"] if c["deployment"] == "cancer-staging"]
    return decisions


def reconcile_any(repo: Path, now: str) -> dict[str, Any]:
    """`reconcile --format json`, exit 0 or 3: production gates may block other steps."""
    done = run_cli("--repo", repo, "reconcile", "--now", now, "--format", "json")
    assert done.code in (0, 3), done.seen
    result: dict[str, Any] = done.json()
    return result


def test_an_equal_canary_steps_every_hour_then_is_promoted(repo: Path) -> None:
    start_canary(repo)
    decisions = run_hours(repo, 5, {"1.1.0": 0.95, "1.2.0": 0.95})
    assert [d["action"] for d in decisions] == ["step", "step", "step", "promote"]
    assert [d["traffic"] for d in decisions] == [25, 50, 100, 100]
    text = (repo / STAGING).read_text()
    assert 'version: "1.2.0"' in text and "canary" not in text.split("spec:")[1]
    assert "# Staging for cancer-detector" in text  # the edit keeps comments
    analyses = trailers(repo, "Mlops-Analysis")
    assert analyses[0].startswith("step: all 4 checks passed: 10% -> 25%")
    assert analyses[-1].startswith("promote: all 4 checks passed at 100%")
    assert all(
        e.startswith("reports/cancer-staging/latest.json@")
        for e in trailers(repo, "Mlops-Evidence")
        if "staging" in e
    )
    state = json.loads((repo / ".mlops/state/deployments/cancer-staging.json").read_text())
    assert state["version"] == "1.2.0" and state["canary"] is None  # apply carried it out
    assert not (repo / ".mlops/state/canaries/cancer-staging.json").exists()


def test_a_worse_canary_fails_twice_and_is_removed_with_an_alert(repo: Path) -> None:
    start_canary(repo)
    decisions = run_hours(repo, 4, {"1.1.0": 0.95, "1.2.0": 0.80})
    assert [d["action"] for d in decisions] == ["fail", "abort"]
    assert decisions[0]["failures"] == 1
    failed = [c for c in decisions[1]["checks"] if c["status"] == "fail"]
    assert [c["name"] for c in failed] == ["accuracy non_inferiority margin 0.05"]
    text = (repo / STAGING).read_text()
    assert "canary" not in text.split("spec:")[1] and 'version: "1.1.0"' in text
    alerts = (repo / "alerts/2026-11-27.md").read_text()
    assert "canary 1.2.0 on cancer-staging: abort" in alerts
    assert "canary 1.2.0 on cancer-staging: aborted" in subjects(repo)[1]


def test_waiting_is_reported_and_commits_nothing(repo: Path) -> None:
    start_canary(repo)
    result = reconcile_any(repo, START.isoformat())
    [decision] = [c for c in result["canaries"] if c["deployment"] == "cancer-staging"]
    assert decision["reason"] == "waiting: 0 of 200 samples per version at 10% traffic"
    write_hour(repo, 0, 0.1, {"1.1.0": 0.95, "1.2.0": 0.95})
    reconcile_any(repo, (START + timedelta(hours=1)).isoformat())  # steps to 25%
    write_hour(repo, 1, 0.25, {"1.1.0": 0.95, "1.2.0": 0.95})
    result = reconcile_any(repo, (START + timedelta(hours=1, minutes=30)).isoformat())
    [decision] = [c for c in result["canaries"] if c["deployment"] == "cancer-staging"]
    assert decision["action"] == "wait"
    assert decision["reason"].startswith("waiting: next analysis at 2026-11-27T14:00")
    before = head(repo)
    reconcile_any(repo, (START + timedelta(hours=1, minutes=40)).isoformat())
    assert head(repo) == before  # nothing new: no commit, no CI loop


def test_a_tampered_progress_record_is_an_error_not_a_fresh_start(repo: Path) -> None:
    start_canary(repo)
    reconcile_any(repo, START.isoformat())
    record = repo / ".mlops/state/canaries/cancer-staging.json"
    data = json.loads(record.read_text())
    data["failures"] = -3
    record.write_text(json.dumps(data))
    git(repo, "commit", "-qam", "tamper")
    done = run_cli("--repo", repo, "reconcile", "--now", START.isoformat(), expect=1)
    assert ".mlops/state/canaries/cancer-staging.json: failures" in done.err
