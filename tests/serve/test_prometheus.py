"""Live metrics: a real Prometheus scrapes `serve`'s /metrics on loopback; the tool queries it.

Prometheus comes from the Debian package (`apt-get install -y prometheus`, done by .ci/run);
where it is not installed these tests are skipped with that reason.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlops_gitops.providers import prometheus
from mlops_gitops.spec import models as spec_models
from mlops_gitops.workspace import Workspace
from tests.serve.helpers import (
    LiveServer,
    free_port,
    instances,
    post_all,
    predict_body,
)
from tests.support.cli import run_cli
from tests.support.git import commit_all

BINARY = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(
    BINARY is None, reason="prometheus is not installed (apt-get install -y prometheus)"
)
REQUESTS = 'sum(mlops_requests_total{deployment="$deployment"})'


class Prometheus:
    """A Prometheus server on a loopback port scraping one target every second."""

    def __init__(self, folder: Path, target: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = folder / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            f"  - job_name: serve\n    static_configs: [{{targets: ['{target}']}}]\n"
        )
        self.proc = subprocess.Popen(
            [
                str(BINARY),
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_for(self, query: str, want: float, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "prometheus exited"
            try:
                got = httpx.get(
                    f"{self.url}/api/v1/query", params={"query": query}, trust_env=False
                ).json()
                result = got["data"]["result"]
                if result and float(result[0]["value"][1]) >= want:
                    return
            except (httpx.TransportError, KeyError, ValueError):
                pass
            time.sleep(0.5)
        raise AssertionError(f"prometheus never saw {query} >= {want}")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture
def scraped(repo: Path, tmp_path: Path) -> Iterator[tuple[Path, Prometheus]]:
    """`repo` served with 40 answered predictions, scraped by Prometheus, and the Project
    pointing at it with the opt-ins a loopback http:// server needs."""
    with LiveServer(repo) as server:
        rows = instances(40)
        jobs = [("/v1/models/cancer-prod:predict", predict_body([r]), None) for r in rows]
        assert all(status == 200 for status, _ in post_all(server.url, jobs))
        folder = tmp_path / "prometheus"
        folder.mkdir()
        server_prom = Prometheus(folder, f"127.0.0.1:{server.port}")
        try:
            server_prom.wait_for(REQUESTS.replace("$deployment", "cancer-prod"), 40)
            project = repo / "mlops.yaml"
            text = project.read_text().replace(
                "  policies:",
                f"  monitoring: {{prometheus_url: '{server_prom.url}'}}\n"
                "  security: {allow_insecure_http: true, allow_private_metrics: true}\n"
                "  policies:",
            )
            project.write_text(text)
            commit_all(repo, "Prometheus for live metrics")
            yield repo, server_prom
        finally:
            server_prom.close()


def test_an_instant_query_reads_serves_counters(scraped: tuple[Path, Prometheus]) -> None:
    repo, _ = scraped
    project = Workspace.load(repo).project
    query = prometheus.fill(REQUESTS, "cancer-prod", "1.1.0", "1.2.0")
    assert prometheus.instant(project, query).value == 40
    by_version = 'sum(mlops_requests_total{deployment="cancer-prod",version="$canary"})'
    canary = prometheus.instant(
        project, prometheus.fill(by_version, "cancer-prod", "1.1.0", "1.2.0")
    )
    stable = prometheus.instant(project, prometheus.fill(by_version, "cancer-prod", "1.1.0", None))
    assert canary.value is not None and 0 < canary.value < 40
    missing = prometheus.instant(project, 'sum(mlops_requests_total{deployment="nope"})')
    assert missing.value is None and stable.value is None
    many = prometheus.instant(project, "mlops_requests_total")
    assert many.value is None and "aggregate them" in (many.problem or "")


def test_a_loopback_prometheus_needs_the_opt_in(scraped: tuple[Path, Prometheus]) -> None:
    repo, _ = scraped
    project = Workspace.load(repo).project
    closed = project.model_copy(
        update={"security": spec_models.SecuritySettings(allow_insecure_http=True)}
    )
    answer = prometheus.instant(closed, "1")
    assert answer.value is None and "allow_private_metrics" in (answer.problem or "")
    plain = project.model_copy(
        update={"security": spec_models.SecuritySettings(allow_private_metrics=True)}
    )
    answer = prometheus.instant(plain, "1")
    assert "allow_insecure_http" in (answer.problem or "")


def test_a_prometheus_rule_trigger_fires_on_live_numbers(
    scraped: tuple[Path, Prometheus],
) -> None:
    repo, _ = scraped
    (repo / "rules" / "cancer-prod-live.yaml").write_text(
        "apiVersion: mlops-gitops/v1\nkind: Rule\nmetadata: {name: cancer-prod-live}\n"
        "spec:\n  deployment: cancer-prod\n"
        f"  triggers:\n    - {{type: prometheus, query: '{REQUESTS}', above: 30}}\n"
        "  actions:\n    - {type: send_alert, channel: log}\n"
    )
    commit_all(repo, "live rule")
    argv = ["--repo", str(repo), "reconcile", "--now", "2026-11-28T00:00:00Z", "--format", "json"]
    result = run_cli(*argv).json()
    [outcome] = [o for o in result["rules"] if o["rule"] == "cancer-prod-live"]
    assert outcome["fired"], outcome
    assert "= 40, above 30" in outcome["triggers"][0]["explanation"]


def test_a_prometheus_gate_blocks_or_passes_a_step(scraped: tuple[Path, Prometheus]) -> None:
    repo, _ = scraped
    path = repo / "deployments" / "cancer-prod.yaml"
    text = path.read_text().replace(
        '      roc_auc: ">= 0.90"',
        f'      roc_auc: ">= 0.90"\n      \'prometheus:{REQUESTS}\': ">= 1000"',
    )
    path.write_text(text.replace("traffic: 20 ", "traffic: 30 "))
    commit_all(repo, "canary to 30% with a live gate")
    plan = run_cli("--repo", repo, "plan", "--format", "json").json()
    gates = [g for s in plan["steps"] for g in s["gates"] if g["metric"].startswith("prometheus:")]
    assert gates and gates[0]["value"] == 40 and not gates[0]["passed"]
