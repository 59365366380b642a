"""Helpers for the automation tests: drifting traffic, reports and rules of the numbers a test
picks, `reconcile` in this process, and a webhook receiver.

Most of these tests run marked `no_git_identity`, like a CI runner: the tool must supply its
own committer (the Project's `git.author`) wherever it writes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tests.support.cli import require_slow, run_cli
from tests.support.git import commit_all

DEPLOYMENT = "cancer-prod"
DEPLOYMENT_FILE = "deployments/cancer-prod.yaml"
RULE_FILE = "rules/cancer-prod-drift.yaml"
REPORT = "reports/cancer-prod/latest.json"
T0 = "2026-11-27T09:00:00Z"
T0_PROMOTED = "2026-11-27T11:00:00Z"
TRAFFIC_START = datetime(2026, 11, 27, tzinfo=UTC)
DRIFTED = ("mean_radius", "mean_perimeter", "mean_area")
CANARY_LINES = ["  canary:", '    version: "1.2.0"']
"""The start of the canary block in example-repo's cancer-prod (its third line is the traffic)."""


def _load_model(path: Path) -> Any:
    from skops.io import get_untrusted_types, load

    return load(path, trusted=get_untrusted_types(file=path))


def write_traffic(
    repo: Path,
    versions: Mapping[str, float],
    records: int,
    start: datetime = TRAFFIC_START,
    drift_after: float = 0.5,
    seed: int = 7,
) -> None:
    """Append cancer-prod prediction logs (and labels for 60% of them) made by the real models.

    Like scripts/demo_traffic.py, but vectorized (one record every 15 s, so 2000 end
    before the tests' --now): rows from the 1.1.0 reference data, the
    size features scaled by 1.6 after `drift_after` of the records.
    """
    rng = np.random.default_rng(seed)
    reference = pd.read_csv(repo / "data" / "reference" / "cancer-detector-1.1.0.csv")
    features = reference.drop(columns=["target"])
    rows = rng.integers(0, len(features), records)
    x = features.iloc[rows].reset_index(drop=True).astype(float)
    drifted = np.arange(records) >= records * drift_after
    for column in DRIFTED:
        x.loc[drifted, column] = x.loc[drifted, column] * 1.6
    names = list(versions)
    weights = np.array([versions[v] for v in names], dtype=float)
    chosen = rng.choice(len(names), size=records, p=weights / weights.sum())
    scores = np.zeros(records)
    for index, version in enumerate(names):
        mask = chosen == index
        if mask.any():
            model = _load_model(repo / "artifacts" / "cancer-detector" / version / "model.skops")
            scores[mask] = model.predict_proba(x[mask])[:, 1]
    latency = rng.lognormal(1.6, 0.4, records) + np.where(drifted, 3.0, 0.0)
    labelled = rng.random(records) < 0.6
    logs = repo / "logs" / DEPLOYMENT
    labels = repo / "labels" / DEPLOYMENT
    logs.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    columns = list(x.columns)
    values = x.to_numpy()
    with (
        open(logs / "predictions.jsonl", "a") as log,
        open(labels / "labels.jsonl", "a") as truth,
    ):
        for i in range(records):
            request = f"{DEPLOYMENT}-{seed}-{i}"
            record = {
                "timestamp": (start + timedelta(seconds=15 * i)).isoformat(),
                "request_id": request,
                "model_version": names[chosen[i]],
                "features": dict(zip(columns, map(float, values[i]), strict=True)),
                "prediction": int(scores[i] >= 0.5),
                "score": round(float(scores[i]), 6),
                "latency_ms": round(float(latency[i]), 3),
                "error": None,
            }
            log.write(json.dumps(record) + "\n")
            if labelled[i]:
                label = int(reference.iloc[rows[i]]["target"])
                truth.write(json.dumps({"request_id": request, "label": label}) + "\n")


def report(
    *,
    records: int = 1000,
    share: float = 0.0,
    features: Mapping[str, Mapping[str, Any]] | None = None,
    versions: Mapping[str, Mapping[str, Any]] | None = None,
    end: str = "2026-11-27T08:00:00+00:00",
) -> dict[str, Any]:
    """A monitoring report of the shape monitor writes, with the numbers a test chooses."""
    per_version = {
        "1.1.0": {"records": records, "error_rate": 0.0, "latency_ms": {"p95": 10, "p99": 20}},
        "1.2.0": {"records": records, "error_rate": 0.0, "latency_ms": {"p95": 10, "p99": 20}},
    }
    for version, entry in (versions or {}).items():
        per_version[version] = {**per_version.get(version, {}), **entry}
    return {
        "format_version": "1",
        "deployment": DEPLOYMENT,
        "window": {
            "start": "2026-11-27T00:00:00+00:00",
            "end": end,
            "records": records,
            "labelled": 0,
        },
        "drift": {"share_drifted": share, "features": dict(features or {})},
        "versions": per_version,
    }


def write_report(repo: Path, data: Mapping[str, Any], message: str = "report") -> str:
    """Write reports/cancer-prod/latest.json and commit it (as monitor would)."""
    path = repo / REPORT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return commit_all(repo, message)


def allow_private_webhooks(repo: Path) -> None:
    """Let the Project's webhooks reach loopback (the test receivers listen on 127.0.0.1)."""
    with open(repo / "mlops.yaml", "a") as project:
        project.write("  security:\n    allow_private_webhooks: true\n")


def write_rule(repo: Path, name: str, body: str) -> str:
    """A Rule file for cancer-prod; `body` is the YAML under `spec:` (indented two spaces)."""
    text = (
        "apiVersion: mlops-gitops/v1\nkind: Rule\n"
        f"metadata:\n  name: {name}\n"
        f"spec:\n  deployment: {DEPLOYMENT}\n{body}"
    )
    path = repo / "rules" / f"{name}.yaml"
    path.write_text(text)
    return path.relative_to(repo).as_posix()


def reconcile(repo: Path, now: str, *extra: str, expect: int = 0) -> dict[str, Any]:
    """`reconcile --format json` in this process, its exit code asserted; the result."""
    done = run_cli("--repo", repo, "reconcile", "--now", now, "--format", "json", *extra)
    assert done.code == expect, done.seen
    result: dict[str, Any] = done.json()
    return result


def reconcile_text(repo: Path, now: str, *extra: str, expect: int = 0) -> str:
    """`reconcile` in this process, its exit code asserted; what it prints."""
    return run_cli("--repo", repo, "reconcile", "--now", now, *extra, expect=expect).out


def rule_result(result: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The rule's entry in `reconcile --format json`."""
    found = [r for r in result["rules"] if r["rule"] == name]
    assert len(found) == 1, result["rules"]
    entry: dict[str, Any] = found[0]
    return entry


class Hook:
    """A webhook receiver: http.server in a thread on 127.0.0.1, port 0.

    Each POST is recorded and answered with the next planned response: a status code, or
    "hang" (no answer until `close`). With nothing planned it answers 200.
    """

    def __init__(self) -> None:
        require_slow("starts a server")
        self.plan: list[int | str] = []
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.requests.append(
                    {
                        "path": self.path,
                        "content_type": self.headers.get("Content-Type"),
                        "body": json.loads(body),
                    }
                )
                answer = hook.plan.pop(0) if hook.plan else 200
                if answer == "hang":
                    hook.release.wait(30)
                    return
                assert isinstance(answer, int)
                self.send_response(answer)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
