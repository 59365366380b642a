"""Alert channels: the log (and GitHub Actions annotations), an alerts file, a webhook."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlops_gitops import fsguard
from mlops_gitops.safeio import dumps
from mlops_gitops.spec import models as m


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
    action: m.AlertAction, message: str, payload: dict[str, Any], repo_root: Path, now: datetime
) -> AlertResult:
    text = action.message or message
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
    return _webhook(action.url, {"text": text, **payload}, action.timeout_seconds, action.retries)


def _webhook(url: str, body: dict[str, Any], timeout: float, retries: int) -> AlertResult:
    """POST JSON; retry on network errors and 5xx with a short backoff, never on 4xx."""
    data = dumps(body, sort_keys=True).encode()
    last = ""
    for attempt in range(retries + 1):
        request = urllib.request.Request(
            url, data=data, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return AlertResult(
                    "webhook", True, f"HTTP {response.status} after {attempt + 1} tries"
                )
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
            exc.close()
            if exc.code < 500:
                break
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        if attempt < retries:
            time.sleep(min(0.2 * 2**attempt, 2.0))
    return AlertResult("webhook", False, f"not delivered to {_where(url)}: {last}")


def _command_data(text: str) -> str:
    """Escape the data of a GitHub Actions workflow command (`%` first, then CR and LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _where(url: str) -> str:
    """The scheme and host of a webhook URL: its path and query often carry a token."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port that is not a number
        port = ""
    return f"{parts.scheme}://{host}{port}" + ("/..." if parts.path not in ("", "/") else "")
