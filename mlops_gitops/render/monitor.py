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
        report = outcome.report or {}
        drift = report.get("drift", {})
        line = (
            f"{outcome.deployment}: {report.get('window', {}).get('records', 0)} records "
            f"({outcome.new_records} new), dataset drift "
            f"{'YES' if drift.get('dataset_drift') else 'no'} "
            f"(share {drift.get('share_drifted', 0):.2f})"
        )
        out.add(line, "yellow" if drift.get("dataset_drift") else "green")
        for version, entry in sorted(report.get("versions", {}).items()):
            perf = entry.get("performance", {})
            extra = f", accuracy {perf['accuracy']:.3f}" if "accuracy" in perf else ""
            out.add(
                f"  {version}: {entry['records']} records, error rate {entry['error_rate']:.3f}"
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
