"""The report a monitoring run writes: latest.json, latest.md, charts, and the commit message."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from mlops_gitops import fsguard
from mlops_gitops.monitor import metrics, numbers
from mlops_gitops.monitor.drift import DriftReport
from mlops_gitops.monitor.profile import ReferenceProfile
from mlops_gitops.monitor.records import Malformed
from mlops_gitops.monitor.summary import VersionSummary, WindowSummary
from mlops_gitops.report_model import REPORT_FORMAT_VERSION, MonitoringReport
from mlops_gitops.safeio import dump_bytes
from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.types import format_duration

NO_REFERENCE: dict[str, Any] = {
    "policy": None,
    "dataset_drift": False,
    "share_drifted": 0.0,
    "features": {},
    "note": "no reference data for the stable version",
}


def json_bytes(data: Any) -> bytes:
    return dump_bytes(data)


def clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def comparison(versions: dict[str, Any], spec: spec_models.DeploymentSpec) -> dict[str, Any]:
    if spec.canary is None:
        return {"available": False, "reason": "no canary in the deployment"}
    stable, canary = versions.get(spec.version), versions.get(spec.canary.version)
    if not stable or not canary:
        return {"available": False, "reason": "no records for the stable or canary version"}
    out: dict[str, Any] = {
        "available": True,
        "stable": spec.version,
        "canary": spec.canary.version,
        "error_rate": metrics.two_proportions(
            canary["errors"], canary["records"], stable["errors"], stable["records"]
        ),
    }
    perf_s, perf_c = stable.get("performance", {}), canary.get("performance", {})
    if "accuracy" in perf_s and "accuracy" in perf_c:
        n_s, n_c = perf_s["labelled"], perf_c["labelled"]
        out["accuracy"] = metrics.two_proportions(
            round(perf_c["accuracy"] * n_c), n_c, round(perf_s["accuracy"] * n_s), n_s
        )
    return out


def _canary_checks(
    summary: WindowSummary, versions: dict[str, Any], spec: spec_models.DeploymentSpec
) -> dict[str, Any]:
    from mlops_gitops.monitor.canary import checks

    found = checks(summary, versions, spec)
    return {"checks": found} if found else {}


def report(
    name: str,
    spec: spec_models.DeploymentSpec,
    generated_at: str,
    summary: WindowSummary,
    versions: dict[str, Any],
    drift: DriftReport | None,
    malformed: Malformed,
    events: list[str],
) -> dict[str, Any]:
    window = spec.monitoring.window
    records = summary.records
    start = min((v.start for v in summary.versions.values()), default=None)
    end = max((v.end for v in summary.versions.values()), default=None)
    out: dict[str, Any] = {
        "format_version": REPORT_FORMAT_VERSION,
        "deployment": name,
        "model": spec.model,
        "generated_at": generated_at,
        "window": {
            "start": numbers.iso(start) if records and start is not None else None,
            "end": numbers.iso(end) if records and end is not None else None,
            "records": records,
            "labelled": summary.labelled,
            "policy": {"records": window.records}
            if window.records
            else {"duration": format_duration(window.duration) if window.duration else None},
        },
        "versions": versions,
        "drift": drift.to_json() if drift else dict(NO_REFERENCE),
        "comparison": comparison(versions, spec) | _canary_checks(summary, versions, spec),
        "data_quality": {
            "malformed_records": malformed.count,
            "malformed_examples": malformed.examples,
            "missing": numbers.missing(summary),
            "events": events,
        },
    }
    return clean(out)  # type: ignore[no-any-return]


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:80] or "feature"


def write(
    root: Path,
    folder: Path,
    rel_folder: str,
    content: MonitoringReport,
    drift: DriftReport | None,
    profile: ReferenceProfile | None,
    summary: WindowSummary,
    total: VersionSummary,
) -> list[str]:
    """Write latest.json, latest.md and the charts; delete charts of features that recovered."""
    from mlops_gitops.monitor.report import render_markdown

    charts_dir = folder / "charts"
    chart_files: dict[str, str] = {}
    service_files: dict[str, str] = {}
    taken = {"charts/latency.svg", "charts/volume.svg"}  # feature charts get other names
    if drift is not None and profile is not None:
        for feature, result in drift.features.items():
            if not result.drifted or feature not in profile.features:
                continue
            svg = numbers.feature_chart(feature, profile, total)
            if svg is None:
                continue
            rel, n = f"charts/{_safe(feature)}.svg", 1
            while rel in taken:  # `a b` and `a_b`, or a feature called `latency`
                n += 1
                rel = f"charts/{_safe(feature)}-{n}.svg"
            taken.add(rel)
            fsguard.write(root, folder / rel, svg.encode())
            chart_files[feature] = rel
    service = numbers.service_charts(summary)
    if service:
        fsguard.write(root, charts_dir / "latency.svg", service[0].encode())
        fsguard.write(root, charts_dir / "volume.svg", service[1].encode())
        service_files = {"latency": "charts/latency.svg", "volume": "charts/volume.svg"}
    current = {*chart_files.values(), *service_files.values()}
    for old in fsguard.listdir(root, charts_dir):  # charts of features that no longer drift
        if old.endswith(".svg") and f"charts/{old}" not in current:
            fsguard.remove(root, charts_dir / old)
    fsguard.write(root, folder / "latest.json", content.to_bytes())
    plain = content.model_dump(mode="json", exclude_unset=True, by_alias=True)
    markdown = render_markdown(plain, chart_files, service_files)
    fsguard.write(root, folder / "latest.md", markdown.encode())
    return [f"{rel_folder}/{rel}" for rel in ("latest.json", "latest.md", *sorted(current))]


def message(name: str, content: MonitoringReport, new: int) -> str:
    drift = content.drift
    lines = [f"mlops-gitops: monitor {name}", ""]
    lines.append(
        f"{content.window.records} records in the window ({new} new), "
        f"dataset drift {'yes' if drift.dataset_drift else 'no'} "
        f"(share {drift.share_drifted:.2f})."
    )
    lines += ["", f"Mlops-Monitor: {name}", f"Mlops-Records: {content.window.records}"]
    lines.append(f"Mlops-New-Records: {new}")
    lines.append(f"Mlops-Drift-Share: {drift.share_drifted:.4f}")
    lines.append(f"Mlops-Dataset-Drift: {str(drift.dataset_drift).lower()}")
    for version, entry in sorted(content.versions.items()):
        lines.append(f"Mlops-Error-Rate: {version}={entry.error_rate or 0.0:.4f}")
        accuracy = entry.performance.accuracy
        if accuracy is not None:
            lines.append(f"Mlops-Accuracy: {version}={accuracy:.4f}")
    return "\n".join(lines) + "\n"
