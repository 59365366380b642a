"""Status and history as text and JSON."""

from __future__ import annotations

from typing import Any

from mlops_gitops.apply.history import Event
from mlops_gitops.render.base import Lines, Paint, document, plain, versioned


def _config(config: dict[str, Any] | None) -> str:
    if not config:
        return "-"
    text = str(config["version"])
    if config.get("canary"):
        text += f" +{config['canary']['version']}@{config['canary']['traffic']}%"
    return text


def status_text(report: dict[str, Any], paint: Paint = plain) -> str:
    out = Lines(paint)
    if report.get("at"):
        out.add(f"As committed at {report['at']}:")
        out.add()
    rows: list[tuple[str, ...]] = [("DEPLOYMENT", "MODEL", "DESIRED", "ACTUAL", "SYNC", "HEALTH")]
    for item in report["deployments"]:
        rows.append(
            (
                item["name"],
                item["model"] or "-",
                _config(item["desired"]),
                _config(item["actual"]),
                item["sync"],
                item["health"],
            )
        )
    out.table(rows, {4: {"Synced": "green", "OutOfSync": "yellow"}})
    out.add()
    rows = [("MODEL", "VERSION", "STATUS", "SHA256", "SCAN")]
    for item in report["models"]:
        sha = (item["sha256"] or "-")[:12]
        rows.append((item["model"], item["version"], item["status"], sha, item["scan"] or "-"))
    out.table(rows)
    return out.text()


def status_json(report: dict[str, Any]) -> str:
    return document(report)


def history_text(events: list[Event], paint: Paint = plain) -> str:
    out = Lines(paint)
    if not events:
        out.add("No applied steps recorded yet.")
        return out.text()
    rows = [("TIME", "COMMIT", "ACTION", "OBJECT", "ACTOR", "CAUSE", "REASON")]
    for event in events:
        obj = f"{event.kind}/{event.name}" + (f" {event.version}" if event.version else "")
        cause = f"{event.cause.kind} {event.cause.commit[:10]}" if event.cause else "-"
        rows.append(
            (
                event.time,
                event.commit[:10],
                event.action,
                obj,
                event.actor.describe(),
                cause,
                event.reason,
            )
        )
    out.table(rows)
    return out.text()


def history_json(events: list[Event]) -> str:
    return document(versioned(events=[e.to_json() for e in events]))
