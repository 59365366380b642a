"""Alert channels: the log (and GitHub Actions annotations), an alerts file, a webhook."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlops_gitops import fsguard, net
from mlops_gitops.safeio import dumps
from mlops_gitops.spec import models as spec_models
from mlops_gitops.urls import parse_http_url, redact_text


@dataclass(frozen=True)
class AlertResult:
    channel: str
    delivered: bool
    detail: str
    lines: tuple[str, ...] = ()
    """What to print on stdout (log channel)."""
    path: str | None = None
    """The alerts file written (file channel), relative to the repository."""


def send(
    action: spec_models.AlertAction,
    message: str,
    payload: dict[str, Any],
    repo_root: Path,
    now: datetime,
    *,
    allow_private: bool = False,
) -> AlertResult:
    """Deliver one alert; `allow_private` is the Project's security.allow_private_webhooks."""
    text = redact_text(action.message or message)
    if action.channel == "log":
        lines = [f"ALERT: {text}"]
        if os.environ.get("GITHUB_ACTIONS") == "true":
            lines.append("::warning title=mlops-gitops alert::" + _command_data(text))
        return AlertResult("log", True, "printed", tuple(lines))
    if action.channel == "file":
        rel = f"alerts/{now.date().isoformat()}.md"
        fsguard.append(
            repo_root,
            repo_root / rel,
            f"- {now.isoformat(timespec='seconds')} {text}\n".encode(),
            header=f"# Alerts of {now.date().isoformat()}\n\n".encode(),
        )
        return AlertResult("file", True, f"appended to {rel}", path=rel)
    assert action.url is not None
    body = {"text": text, **payload}
    return _webhook(action.url, body, action.timeout_seconds, action.retries, allow_private)


def _webhook(
    url: str, body: dict[str, Any], timeout: float, retries: int, allow_private: bool
) -> AlertResult:
    """POST JSON; retry on network errors and 5xx with a short backoff, never on 4xx, a
    redirect or a refused address. Each attempt ends within `timeout` seconds."""
    data = dumps(body, sort_keys=True).encode()
    last = ""
    for attempt in range(retries + 1):
        try:
            response = net.request(
                "POST",
                url,
                body=data,
                headers={"Content-Type": "application/json"},
                timeout=timeout,
                allow_private=allow_private,
                max_body=0,  # the status says whether it was delivered
            )
        except net.Refused as exc:
            last = exc.reason
            break
        except net.NetError as exc:
            last = exc.reason
        else:
            if response.status < 300:
                return AlertResult(
                    "webhook", True, f"HTTP {response.status} after {attempt + 1} tries"
                )
            last = f"HTTP {response.status}"
            if response.status < 500:
                break
        if attempt < retries:
            time.sleep(min(0.2 * 2**attempt, 2.0))
    return AlertResult("webhook", False, f"not delivered to {_where(url)}: {last}")


def _command_data(text: str) -> str:
    """Escape the data of a GitHub Actions workflow command (`%` first, then CR and LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _where(url: str) -> str:
    """The scheme and host of a webhook URL: its path and query often carry a token."""
    try:
        target = parse_http_url(url)
    except ValueError:
        return "the webhook (its URL is malformed)"
    path = "/..." if target.target not in ("", "/") else ""
    return f"{target.scheme}://{target.host_header}{path}"
