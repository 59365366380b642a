"""`report history`: a metric's time series, read back from the git history of latest.json."""

from __future__ import annotations

from typing import Any

from mlops_gitops import git
from mlops_gitops.errors import MlopsError
from mlops_gitops.report_model import parse_report
from mlops_gitops.safeio import loads
from mlops_gitops.workspace import Workspace

TOP_LEVEL = {
    "share_drifted": ("drift", "share_drifted"),
    "drift_share": ("drift", "share_drifted"),
    "dataset_drift": ("drift", "dataset_drift"),
    "records": ("window", "records"),
    "labelled": ("window", "labelled"),
    "malformed_records": ("data_quality", "malformed_records"),
}


def extract(report: dict[str, Any], metric: str) -> dict[str, Any]:
    """Values of `metric` in one report: one series, or one per version.

    Accepts top-level names (share_drifted, records, ...), per-version names (error_rate,
    accuracy, roc_auc, rmse, latency_p95, ...), a feature's drift statistic as
    `drift.<feature>`, or a dotted path into the JSON.
    """
    if metric in TOP_LEVEL:
        node: Any = report
        for part in TOP_LEVEL[metric]:
            node = node.get(part) if isinstance(node, dict) else None
        return {"": node}
    if metric.startswith("drift.") and metric[6:] in report.get("drift", {}).get("features", {}):
        return {"": report["drift"]["features"][metric[6:]].get("statistic")}
    out: dict[str, Any] = {}
    if metric.startswith("latency_") and metric.endswith("_ms"):
        metric = metric[: -len("_ms")]  # latency_p95_ms, as promotion gates name it
    for version, entry in (report.get("versions") or {}).items():
        if metric in entry and not isinstance(entry[metric], dict):
            out[version] = entry[metric]
        elif metric in (entry.get("performance") or {}):
            out[version] = entry["performance"][metric]
        elif metric.startswith("latency_") and metric[8:] in (entry.get("latency_ms") or {}):
            out[version] = entry["latency_ms"][metric[8:]]
    if out:
        return out
    node = report
    for part in metric.split("."):
        if not isinstance(node, dict) or part not in node:
            return {}
        node = node[part]
    return {"": node}


def report_history(workspace: Workspace, deployment: str, metric: str) -> dict[str, Any]:
    rel = f"{workspace.project.reports_dir}/{deployment}/latest.json"
    commits = git.log(workspace.root, [rel])
    if not commits:
        raise MlopsError(
            f"no committed report for {deployment!r} ({rel})", hint="run mlops-gitops monitor"
        )
    points = []
    for info in reversed(commits):
        try:
            report = loads(git.show(workspace.root, info.sha, rel))
            parsed = parse_report(report, f"{rel}@{info.sha[:12]}")
        except (MlopsError, ValueError):
            continue  # the file was deleted or damaged in that commit
        values = extract(report, metric)
        if values:
            points.append(
                {
                    "time": parsed.generated_at or info.time,
                    "commit": info.sha,
                    "values": values,
                }
            )
    return {
        "format_version": "1",
        "deployment": deployment,
        "metric": metric,
        "points": points,
    }
