"""The report's `outputs` section: drift of predictions, scores and labels against the stable
reference, and the estimated performance (see :mod:`.outputs`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlops_gitops.monitor import numbers, outputs
from mlops_gitops.monitor.drift import compute_drift
from mlops_gitops.monitor.profile import ReferenceProfile
from mlops_gitops.monitor.summary import Quantiles, VersionSummary
from mlops_gitops.spec import models as spec_models

TESTS = {"prediction_drift": "@prediction", "score_drift": "@score", "target_drift": "@target"}


def _test(
    profile: ReferenceProfile, name: str, total: VersionSummary, settings: spec_models.DriftSettings
) -> dict[str, Any]:
    reference = profile.outputs.get(name)
    column = name[1:]
    if reference is None:
        return {"available": False, "reason": f"the stable reference has no {column} column"}
    seen = total.features.get(name)
    if seen is None or not seen.present:
        return {"available": False, "reason": f"no {column} in the window yet"}
    alone = ReferenceProfile(profile.sha256, profile.rows, {name: reference})
    # One test per output: no multiple-testing correction across them.
    single = settings.model_copy(update={"correction": "none", "features": {}})
    result = compute_drift(alone, numbers.current(total, {name}), single).features[name]
    out = {"available": result.evaluated, **result.to_json()}
    if not result.evaluated:
        out["reason"] = str(result.details.get("note", "not evaluated"))
    return out


def _scores(total: VersionSummary) -> tuple[Any, Any]:
    """Every current score, with weights when a sketch stands for them."""
    found = total.features.get("@score")
    quantiles = found.numeric.quantiles if found is not None and found.numeric else Quantiles()
    if quantiles.exact:
        return quantiles.array(), None
    return quantiles.sorted_view()


def section(
    total: VersionSummary, stable: ReferenceProfile | None, settings: spec_models.DriftSettings
) -> dict[str, Any]:
    if stable is None:
        missing = {"available": False, "reason": "no reference data for the stable version"}
        return {key: dict(missing) for key in (*TESTS, "estimated_performance")}
    out = {key: _test(stable, name, total, settings) for key, name in TESTS.items()}
    scores = _scores(total)
    finite = np.isfinite(scores[0])
    scores = (scores[0][finite], None if scores[1] is None else scores[1][finite])
    out["estimated_performance"] = outputs.estimate(stable.calibration, total.expected, scores)
    return out
