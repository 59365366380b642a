"""Report numbers from a window summary: per-version service metrics, performance, charts."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np

from mlops_gitops.monitor import charts, metrics
from mlops_gitops.monitor.kernels import auc_weighted
from mlops_gitops.monitor.profile import ReferenceProfile
from mlops_gitops.monitor.summary import (
    FeatureSummary,
    Performance,
    Quantiles,
    VersionSummary,
    WindowSummary,
)
from mlops_gitops.spec import models as spec_models

SLOTS = 24


def latency(quantiles: Quantiles) -> dict[str, Any]:
    """p50, p95, p99: numpy's linear interpolation while exact; the sketch's quantiles beyond."""
    if quantiles.count == 0:
        return {"p50": None, "p95": None, "p99": None}
    if quantiles.exact:
        p50, p95, p99 = np.percentile(quantiles.array(), [50, 95, 99])
    else:
        p50, p95, p99 = quantiles.sketch.get_quantiles([0.5, 0.95, 0.99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99)}


def performance(perf: Performance, task: str) -> dict[str, Any]:
    if task != "classification":
        return metrics.regression_from_sums(
            perf.labelled, perf.errors_abs, perf.errors_sq, perf.truth_m2
        )

    def auc(positive: str) -> float | None:
        scores = perf.scores
        if not scores or positive not in scores or len(scores) < 2:
            return None
        if all(q.exact for q in scores.values()):
            by_class = {name: q.array() for name, q in scores.items()}
            return metrics.auc_exact(by_class, positive)
        negatives = Quantiles()
        for name, q in scores.items():
            if name != positive:
                negatives.merge(q, 0, 2000)
        pos = scores[positive]
        if not pos.exact:
            pos_view = pos.sorted_view()
        else:
            values = np.sort(pos.array())
            pos_view = (values, np.ones(values.size))
        if negatives.exact:
            values = np.sort(negatives.array())
            neg_view = (values, np.ones(values.size))
        else:
            neg_view = negatives.sorted_view()
        return auc_weighted(pos_view, neg_view)

    return metrics.from_counts(perf.confusion, auc)


def versions(summary: WindowSummary, task: str, spec: spec_models.DeploymentSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for version in sorted(summary.versions):
        vs = summary.versions[version]
        role = "stable" if version == spec.version else None
        if spec.canary and version == spec.canary.version:
            role = "canary"
        out[version] = {
            "records": vs.records,
            "errors": vs.errors,
            "error_rate": vs.errors / vs.records if vs.records else 0.0,
            "latency_ms": latency(vs.latency),
            "performance": performance(vs.performance, task),
            "role": role,
        }
        if not vs.latency.exact:
            out[version]["latency_ms"]["method"] = (
                f"KLL sketch (rank error {vs.latency.rank_error():.3%})"
            )
    return out


def current(summary: VersionSummary, present: set[str]) -> dict[str, tuple[FeatureSummary, int]]:
    """What drift compares: each feature of the window with the number of records."""
    return {
        name: (summary.features.get(name, FeatureSummary()), summary.records) for name in present
    }


def missing(summary: WindowSummary) -> dict[str, float]:
    records = summary.records
    if not records:
        return {}
    present: dict[str, int] = {}
    for version in summary.versions.values():
        for name, feature in version.features.items():
            if name[:1] != "@":  # the model's outputs are not input features
                present[name] = present.get(name, 0) + feature.present
    return {name: 1.0 - n / records for name, n in sorted(present.items())}


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(float(seconds), UTC).isoformat(timespec="seconds")


def feature_chart(feature: str, profile: ReferenceProfile, total: VersionSummary) -> str | None:
    summary = total.features.get(feature)
    fp = profile.features[feature]
    if summary is None:
        return None
    if fp.kind == "numeric":
        numeric = summary.numeric
        edges = tuple(fp.edges)
        if numeric is None or not numeric.count or edges not in numeric.hist:
            return None
        counts = numeric.hist[edges]
        shares = (counts / counts.sum()).tolist()
        labels = [f"<{edges[0]:.3g}"] + [f"{e:.3g}" for e in edges[1:]] + [f">{edges[-1]:.3g}"]
        if not edges:
            labels = ["all"]
        labels = labels[: len(shares)]
        return charts.bars(f"{feature}: reference vs current", labels, list(fp.shares), shares)
    counts_cur = summary.categories or {}
    total_ref = sum(fp.categories.values()) or 1
    categories = sorted(set(fp.categories) | set(counts_cur))[:20]
    total_cur = max(sum(counts_cur.values()), 1)
    return charts.bars(
        f"{feature}: reference vs current",
        categories,
        [fp.categories.get(c, 0) / total_ref for c in categories],
        [counts_cur.get(c, 0) / total_cur for c in categories],
    )


def service_charts(summary: WindowSummary) -> tuple[str, str] | None:
    """p95 latency and volume per version over 24 equal slots of the window.

    Drawn from each version's chart sample: every record while the window has at most
    ``chart_sample`` records per version, a uniform sample beyond (volumes scaled up).
    """
    if summary.records < 2:
        return None
    start = min(v.start for v in summary.versions.values())
    end = max(v.end for v in summary.versions.values())
    edges = np.linspace(start, end + 1e-9, SLOTS + 1)
    labels = [iso(e)[5:16].replace("T", " ") for e in edges[:-1]]
    latency_lines: dict[str, list[float]] = {}
    volume: dict[str, list[float]] = {}
    for version in sorted(summary.versions):
        vs = summary.versions[version]
        sample = vs.sample
        slot = np.clip(np.searchsorted(edges, sample.timestamp, side="right") - 1, 0, SLOTS - 1)
        scale = vs.records / max(sample.timestamp.size, 1)
        volume[version] = (np.bincount(slot, minlength=SLOTS) * scale).astype(float).tolist()
        p95 = []
        for i in range(SLOTS):
            values = sample.latency[(slot == i) & ~np.isnan(sample.latency)]
            p95.append(float(np.quantile(values, 0.95)) if values.size else 0.0)
        latency_lines[version] = [v if math.isfinite(v) else 0.0 for v in p95]
    return (
        charts.lines("p95 latency (ms) per version", labels, latency_lines),
        charts.lines("requests per version", labels, volume),
    )
