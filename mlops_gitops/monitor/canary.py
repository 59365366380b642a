"""The canary's comparison checks, computed from the window for the report.

Each `compare:` check of `canary.analysis` becomes one entry: the effect with its standard
error, the (1 - alpha) confidence sequence, an effect size, and the always-valid p-values of
this look for the two hypotheses the analysis acts on (see `automate/analysis.py`):

* pass: non_inferiority rejects "the canary is worse by `margin` or more";
  superiority rejects "the canary is better by at most `margin`";
* fail: non_inferiority rejects "the canary is no worse"; superiority rejects "the canary is
  better by `margin` or more".
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlops_gitops.monitor import sequential
from mlops_gitops.monitor.summary import Quantiles, VersionSummary, WindowSummary
from mlops_gitops.spec import models as spec_models

METHOD = (
    "mixture sequential probability ratio test (normal mixture, always-valid p-values and "
    "confidence sequences: valid however often the canary is analysed)"
)


def check_name(check: spec_models.CompareCheck) -> str:
    if check.max_ratio is not None:
        return f"{check.compare} ratio <= {check.max_ratio:g}"
    return f"{check.compare} {check.test} margin {check.margin:g}"


def checks(
    summary: WindowSummary, versions: dict[str, Any], spec: spec_models.DeploymentSpec
) -> list[Any]:
    canary = spec.canary
    if canary is None or canary.analysis is None:
        return []
    stable_s = summary.versions.get(spec.version)
    canary_s = summary.versions.get(canary.version)
    alpha = canary.analysis.alpha
    out: list[Any] = []
    for check in canary.analysis.checks:
        if not isinstance(check, spec_models.CompareCheck):
            continue
        entry: dict[str, Any] = {"name": check_name(check), "compare": check.compare}
        if stable_s is None or canary_s is None:
            entry["unavailable"] = "no records for the stable or the canary version"
        elif check.max_ratio is not None:
            entry |= _ratio(check, versions[spec.version], versions[canary.version])
        else:
            entry |= _sequential(check, stable_s, canary_s, alpha)
        out.append(entry)
    return out


def _ratio(
    check: spec_models.CompareCheck, stable: dict[str, Any], canary: dict[str, Any]
) -> dict[str, Any]:
    key = check.compare.removeprefix("latency_").removesuffix("_ms")
    s, c = stable["latency_ms"].get(key), canary["latency_ms"].get(key)
    if s is None or c is None or s <= 0:
        return {"unavailable": "no latency for one of the versions"}
    ratio = c / s
    return {
        "method": "ratio of percentiles (a point estimate, no test)",
        "stable": s,
        "canary": c,
        "ratio": ratio,
        "n_canary": canary["records"],
        "n_stable": stable["records"],
        "passed": ratio <= (check.max_ratio or math.inf),
    }


def _estimate(
    check: spec_models.CompareCheck, stable: VersionSummary, canary: VersionSummary
) -> sequential.Estimate | str:
    if check.compare == "accuracy":
        correct_c, n_c = _correct(canary)
        correct_s, n_s = _correct(stable)
        found = sequential.proportions(correct_c, n_c, correct_s, n_s)
        return found or "no labelled records of a classifier for one of the versions"
    if check.compare == "error_rate":
        found = sequential.proportions(
            canary.records - canary.errors,
            canary.records,
            stable.records - stable.errors,
            stable.records,
        )
        return found or "no records for one of the versions"
    source = {
        "latency_ms": (canary.latency, stable.latency),
        "abs_error": (canary.performance.abs_errors, stable.performance.abs_errors),
        "squared_error": (canary.performance.abs_errors, stable.performance.abs_errors),
    }[check.compare]
    values = _values(*source)
    if isinstance(values, str):
        return values
    return sequential.superiority(*values) or "fewer than two values for one of the versions"


def _values(canary: Quantiles, stable: Quantiles) -> tuple[Any, Any] | str:
    if not canary.exact or not stable.exact:
        return "more values than monitoring.exact_max_records: ranks need exact values"
    return canary.array(), stable.array()


def _correct(summary: VersionSummary) -> tuple[int, int]:
    perf = summary.performance
    correct = sum(n for (truth, pred), n in perf.confusion.items() if truth == pred)
    return correct, sum(perf.confusion.values())


def _sequential(
    check: spec_models.CompareCheck, stable: VersionSummary, canary: VersionSummary, alpha: float
) -> dict[str, Any]:
    found = _estimate(check, stable, canary)
    if isinstance(found, str):
        return {"unavailable": found}
    return entry(check, found, alpha)


def entry(
    check: spec_models.CompareCheck, found: sequential.Estimate, alpha: float
) -> dict[str, Any]:
    """The report entry of one look: estimate, confidence sequence, effect size, p-values."""
    margin = check.margin
    if check.test == "non_inferiority":
        p_pass = sequential.p_value(found, -margin, "above")
        p_fail = sequential.p_value(found, 0.0, "below")
    else:
        p_pass = sequential.p_value(found, margin, "above")
        p_fail = sequential.p_value(found, margin, "below")
    low, high = sequential.confidence_sequence(found, alpha)
    return {
        "method": METHOD,
        "test": check.test,
        "margin": margin,
        "alpha": alpha,
        "estimate": found.to_json(),
        "confidence_sequence": [low, high],
        "effect_size": _effect_size(check, found),
        "p_pass": p_pass,
        "p_fail": p_fail,
    }


def _effect_size(check: spec_models.CompareCheck, found: sequential.Estimate) -> dict[str, Any]:
    if found.kind == "difference of proportions":
        # Cohen's h: the difference on the arcsine scale, comparable across base rates.
        h = 2 * math.asin(math.sqrt(found.canary)) - 2 * math.asin(math.sqrt(found.stable))
        if check.compare == "error_rate":
            return {"difference_in_points": -found.delta * 100, "cohens_h": -h}
        return {"difference_in_points": found.delta * 100, "cohens_h": h}
    ratio = found.canary / found.stable if found.stable > 0 else None
    return {
        "probability_canary_better": found.delta + 0.5,
        "median_ratio": ratio if ratio is None or np.isfinite(ratio) else None,
    }
