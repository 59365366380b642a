"""Monitoring outcomes and report time series as text and JSON."""

from __future__ import annotations

from typing import Any

from mlops_gitops.monitor.run import MonitorOutcome
from mlops_gitops.render.base import Lines, Paint, document, plain, versioned


def monitor_text(outcomes: list[MonitorOutcome], paint: Paint = plain) -> str:
    out = Lines(paint)
    for outcome in outcomes:
        if not outcome.changed:
            out.add(f"{outcome.deployment}: unchanged ({outcome.reason})")
            continue
        report = outcome.report
        records = report.window.records if report else 0
        drifted = bool(report and report.drift.dataset_drift)
        line = (
            f"{outcome.deployment}: {records} records "
            f"({outcome.new_records} new), dataset drift "
            f"{'YES' if drifted else 'no'} "
            f"(share {report.drift.share_drifted if report else 0:.2f})"
        )
        out.add(line, "yellow" if drifted else "green")
        for version, entry in sorted(report.versions.items() if report else []):
            accuracy = entry.performance.accuracy
            extra = f", accuracy {accuracy:.3f}" if accuracy is not None else ""
            out.add(
                f"  {version}: {entry.records} records, error rate {entry.error_rate or 0.0:.3f}"
                f"{extra}"
            )
        where = outcome.files[1] if len(outcome.files) > 1 else outcome.files[0]
        committed = f" (committed {outcome.commit[:12]})" if outcome.commit else ""
        out.add(f"  report: {where}{committed}")
    return out.text()


def monitor_json(outcomes: list[MonitorOutcome]) -> str:
    return document(versioned(deployments=[o.to_json() for o in outcomes]))


def _number(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def series_text(series: dict[str, Any], metric: str, paint: Paint = plain) -> str:
    out = Lines(paint)
    keys = sorted({key for point in series["points"] for key in point["values"]})
    rows: list[tuple[str, ...]] = [("TIME", "COMMIT", *[k or metric for k in keys])]
    for point in series["points"]:
        values = [_number(point["values"].get(k)) for k in keys]
        rows.append((point["time"], point["commit"][:10], *values))
    if len(rows) == 1:
        out.add(f"No values of {metric!r} in the report history.")
    else:
        out.table(rows)
    return out.text()


def series_json(series: dict[str, Any]) -> str:
    return document(series)
