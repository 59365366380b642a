"""Helpers for the automation tests: git without identity, drifting traffic, reports, the CLI.

The environment mimics a CI runner: an empty HOME, no system git config and no git identity,
so the tool must supply its own committer (the Project's `git.author`) wherever it writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLE_REPO = PROJECT / "example-repo"
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


def ci_env(home: Path) -> dict[str, str]:
    """os.environ without git settings or identity, with an empty HOME: like a CI runner."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GIT_", "MLOPS_GITOPS_", "GITHUB_"))
        and key.upper() not in ("EMAIL", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
    }
    home.mkdir(parents=True, exist_ok=True)
    env |= {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "NO_COLOR": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    return env


def git(repo: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    """git as a human user of the repository (an identity given on the command line)."""
    done = subprocess.run(
        ["git", "-c", "user.name=Human", "-c", "user.email=human@example.com", *args],
        cwd=repo,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}{done.stdout}")
    return done.stdout


def commit_all(repo: Path, message: str, env: Mapping[str, str] | None = None) -> str:
    git(repo, "add", "-A", env=env)
    git(repo, "commit", "-q", "-m", message, env=env)
    return git(repo, "rev-parse", "HEAD", env=env).strip()


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def subjects(repo: Path, ref: str = "HEAD") -> list[str]:
    return git(repo, "log", "--format=%s", ref).splitlines()


def trailers(repo: Path, key: str, ref: str = "HEAD") -> list[str]:
    """Every value of the trailer `key` in the history of `ref`, oldest commit first."""
    out = git(repo, "log", "--reverse", f"--format=%(trailers:key={key},valueonly)%x1e", ref)
    return [line.strip() for part in out.split("\x1e") for line in part.splitlines() if line]


def cli(
    args: Sequence[str], env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`mlops-gitops args` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "mlops_gitops", "--no-color", *args],
        cwd=PROJECT,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


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
