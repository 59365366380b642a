"""Alerts: webhooks against a loopback HTTP server, the log channel on GitHub Actions.

The server (http.server in a thread, 127.0.0.1, port 0) answers each POST with the next
planned response: a status code, or "hang" (never answer until the test ends).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops.automate import alerts
from mlops_gitops.spec import models as spec_models
from tests.automate.helpers import (
    REPORT,
    RULE_FILE,
    Hook,
    allow_private_webhooks,
    reconcile,
    reconcile_text,
    report,
    rule_result,
    write_report,
    write_rule,
)
from tests.support.git import commit_all

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)

pytestmark = pytest.mark.no_git_identity


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.close()


def webhook(url: str, **options: Any) -> spec_models.AlertAction:
    return spec_models.AlertAction(type="send_alert", channel="webhook", url=url, **options)


def send(action: spec_models.AlertAction, tmp_path: Path) -> tuple[alerts.AlertResult, float]:
    start = time.monotonic()
    result = alerts.send(
        action, "drift on cancer-prod", {"rule": "r"}, tmp_path, NOW, allow_private=True
    )
    return result, time.monotonic() - start


def test_webhook_payload_from_a_firing_rule(repo: Path, hook: Hook) -> None:
    (repo / RULE_FILE).unlink()
    write_rule(
        repo,
        "page",
        "  triggers:\n    - {type: data_drift, share_above: 0.2}\n"
        f'  actions:\n    - {{type: send_alert, channel: webhook, url: "{hook.url}"}}\n',
    )
    allow_private_webhooks(repo)
    commit_all(repo, "page on drift")
    evidence_sha = write_report(repo, report(share=0.35))
    page = rule_result(reconcile(repo, "2026-11-27T12:00:00Z"), "page")
    assert page["acted"]
    assert page["actions"] == [
        {
            "type": "send_alert",
            "channel": "webhook",
            "delivered": True,
            "detail": "HTTP 200 after 1 tries",
        }
    ]
    assert len(hook.requests) == 1
    request = hook.requests[0]
    assert request["path"] == "/hook"
    assert request["content_type"] == "application/json"
    evidence = f"{REPORT}@{evidence_sha[:12]}"
    assert request["body"] == {
        "text": f"rule page on cancer-prod: drift share 0.35 > 0.2 ({REPORT})",
        "rule": "page",
        "deployment": "cancer-prod",
        "evidence": evidence,
        "triggers": [
            {
                "type": "data_drift",
                "fired": True,
                "value": 0.35,
                "threshold": 0.2,
                "version": None,
                "explanation": f"drift share 0.35 > 0.2 ({REPORT})",
            }
        ],
    }
    # Delivered once: the same evidence never alerts again.
    reconcile(repo, "2026-11-27T13:00:00Z")
    assert len(hook.requests) == 1


def test_webhook_retries_server_errors_until_delivered(hook: Hook, tmp_path: Path) -> None:
    hook.plan = [500, 503]
    result, _ = send(webhook(hook.url, retries=3), tmp_path)
    assert result.delivered
    assert result.detail == "HTTP 200 after 3 tries"
    assert len(hook.requests) == 3
    assert all(r["body"] == {"text": "drift on cancer-prod", "rule": "r"} for r in hook.requests)


def test_webhook_gives_up_after_its_retries(hook: Hook, tmp_path: Path) -> None:
    hook.plan = [500, 500, 500]
    result, _ = send(webhook(hook.url, retries=2), tmp_path)
    assert not result.delivered
    assert result.detail.endswith(": HTTP 500")
    assert len(hook.requests) == 3


def test_webhook_does_not_retry_a_client_error(hook: Hook, tmp_path: Path) -> None:
    hook.plan = [400]
    result, _ = send(webhook(hook.url, retries=3), tmp_path)
    assert not result.delivered
    assert result.detail.endswith(": HTTP 400")
    assert len(hook.requests) == 1


def test_webhook_to_a_server_that_never_answers_is_bounded(hook: Hook, tmp_path: Path) -> None:
    hook.plan = ["hang", "hang", "hang"]
    result, elapsed = send(webhook(hook.url, timeout_seconds=0.3, retries=2), tmp_path)
    assert not result.delivered
    assert "timed out" in result.detail
    assert len(hook.requests) == 3
    # Three attempts of 0.3 s and two short pauses between them; nothing waits longer.
    assert 0.9 <= elapsed < 3.0


@pytest.mark.slow
def test_webhook_to_a_closed_port_fails_without_hanging(tmp_path: Path) -> None:
    hook = Hook()
    url = hook.url
    hook.close()  # nothing listens on the port any more
    result, elapsed = send(webhook(url, retries=1, timeout_seconds=1), tmp_path)
    assert not result.delivered
    assert elapsed < 3.0


def test_webhook_failure_does_not_show_the_url(hook: Hook, tmp_path: Path) -> None:
    """Webhook URLs often carry a token (Slack, Teams): it must not reach logs or CI output."""
    hook.plan = [404]
    secret = hook.url + "/T000/B000/s3cr3t-t0ken?key=abc"
    result, _ = send(webhook(secret, retries=0), tmp_path)
    assert not result.delivered
    assert "s3cr3t" not in result.detail and "key=abc" not in result.detail
    assert "127.0.0.1" in result.detail


def test_log_channel_writes_a_github_annotation_on_actions(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / RULE_FILE).unlink()
    write_rule(
        repo,
        "note",
        "  triggers:\n    - {type: data_drift, share_above: 0.2}\n"
        "  actions:\n    - {type: send_alert, channel: log}\n",
    )
    commit_all(repo, "note on drift")
    write_report(repo, report(share=0.35))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    out = reconcile_text(repo, "2026-11-27T12:00:00Z")
    message = f"rule note on cancer-prod: drift share 0.35 > 0.2 ({REPORT})"
    lines = out.splitlines()
    assert f"ALERT: {message}" in lines
    assert f"::warning title=mlops-gitops alert::{message}" in lines


def test_log_channel_without_github_actions_prints_no_annotation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    action = spec_models.AlertAction(type="send_alert", channel="log")
    result = alerts.send(action, "drift", {}, tmp_path, NOW)
    assert result.lines == ("ALERT: drift",)


def test_github_annotation_escapes_its_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workflow command's data escapes %, CR and LF, or GitHub reads something else."""
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    action = spec_models.AlertAction(
        type="send_alert", channel="log", message="canary at 20%25 now\nsecond line\r"
    )
    result = alerts.send(action, "ignored", {}, tmp_path, NOW)
    assert result.lines[1] == (
        "::warning title=mlops-gitops alert::canary at 20%2525 now%0Asecond line%0D"
    )
    assert all("\n" not in line for line in result.lines[1:])


def test_file_channel_appends_to_the_days_file(tmp_path: Path) -> None:
    action = spec_models.AlertAction(type="send_alert", channel="file")
    first = alerts.send(action, "one", {}, tmp_path, NOW)
    alerts.send(action, "two", {}, tmp_path, NOW.replace(hour=13))
    assert first.path == "alerts/2026-11-27.md"
    assert (tmp_path / "alerts/2026-11-27.md").read_text() == (
        "# Alerts of 2026-11-27\n\n"
        "- 2026-11-27T12:00:00+00:00 one\n"
        "- 2026-11-27T13:00:00+00:00 two\n"
    )
