"""One log record stamped in 2099 must not freeze a drift rule forever (issue 9.12).

A rule acts only on a report with records newer than the deployment's last change. The window's
end was the latest timestamp in it, so a single record from 2099 (a bad clock, or a client
writing to the log) made every later report end in 2099, no newer than the report at the change:
the rule waited "for data on the new configuration" for ever. Records later than --now plus
five minutes are now invalid: counted and reported like malformed ones, and left out.
Real prediction logs made by the example models, and the real rule, through `reconcile`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from tests.automate.helpers import (
    DEPLOYMENT,
    DEPLOYMENT_FILE,
    RULE_FILE,
    reconcile,
    rule_result,
    write_rule,
    write_traffic,
)
from tests.support.git import commit_all

LOG = f"logs/{DEPLOYMENT}/predictions.jsonl"


def test_a_record_from_2099_does_not_freeze_a_drift_rule(repo: Path) -> None:
    (repo / RULE_FILE).unlink()
    write_rule(
        repo,
        "back",
        "  triggers:\n    - {type: data_drift, share_above: 0.2}\n"
        "  actions:\n    - {type: rollback_deployment}\n",
    )
    # Undrifted traffic in the morning, and one record whose clock says 2099.
    morning = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    write_traffic(repo, {"1.1.0": 0.8, "1.2.0": 0.2}, 200, start=morning, drift_after=1.0)
    log = repo / LOG
    last = json.loads(log.read_text().splitlines()[-1])
    last |= {"timestamp": "2099-01-01T00:00:00+00:00", "request_id": "from-the-future"}
    with open(log, "a") as handle:
        handle.write(json.dumps(last) + "\n")
    future_line = len(log.read_text().splitlines())
    commit_all(repo, "rule back, morning traffic")

    first = reconcile(repo, "2026-11-27T12:00:00Z")
    assert rule_result(first, "back")["acted"] is False
    report = json.loads((repo / f"reports/{DEPLOYMENT}/latest.json").read_text())
    assert report["window"]["end"] < "2026-11-27T12:05:00"
    assert report["window"]["records"] == 200
    quality = report["data_quality"]
    assert quality["malformed_records"] == 1
    assert quality["malformed_examples"] == [
        {
            "path": LOG,
            "line": future_line,
            "error": "timestamp later than --now plus the allowed clock skew",
        }
    ]

    # A human raises the canary; then drifted traffic arrives on the new configuration.
    deployment = repo / DEPLOYMENT_FILE
    deployment.write_text(deployment.read_text().replace("traffic: 20 ", "traffic: 40 "))
    commit_all(repo, "canary to 40%")
    afternoon = datetime(2026, 11, 27, 12, 10, tzinfo=UTC)
    write_traffic(
        repo, {"1.1.0": 0.6, "1.2.0": 0.4}, 1000, start=afternoon, drift_after=0.0, seed=8
    )
    commit_all(repo, "afternoon traffic")

    second = reconcile(repo, "2026-11-27T17:00:00Z")
    back = rule_result(second, "back")
    assert back["acted"], back["explanation"]
    assert "waiting for data" not in back["explanation"]
    assert "  canary:" not in deployment.read_text()  # rolled back
    report = json.loads((repo / f"reports/{DEPLOYMENT}/latest.json").read_text())
    assert report["window"]["end"] < "2026-11-27T17:05:00"
