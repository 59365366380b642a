"""Data quality of the window against the stable version's reference profile.

Per feature: the share of records without a value (missing), values of the wrong type (text in
a numeric column: invalid, never counted as missing), numeric values past the reference range by
more than the tolerance, and categories the reference never had. Per dataset: columns of the
reference absent from the window and columns the reference does not have (schema changes).
Every count comes from the mergeable summaries (:mod:`.summary`), so batches, files and Dask
workers each count their part and the sums are exact.
"""

from __future__ import annotations

from typing import Any

from mlops_gitops.monitor.profile import ReferenceProfile
from mlops_gitops.monitor.summary import VersionSummary

EXAMPLES = 5  # unseen categories named per feature; the count is always complete


def bounds(profile: ReferenceProfile, tolerance: float) -> dict[str, tuple[float, float]]:
    """Numeric feature -> (lowest, highest) accepted value: the reference range widened by
    `tolerance` times its span on each side (a constant feature by `tolerance` itself)."""
    out: dict[str, tuple[float, float]] = {}
    for name, feature in profile.features.items():
        found = feature.value_range()
        if found is None:
            continue
        low, high = found
        slack = tolerance * ((high - low) or 1.0)
        out[name] = (low - slack, high + slack)
    return out


def section(
    total: VersionSummary, profile: ReferenceProfile | None, records: int, tolerance: float
) -> dict[str, Any]:
    """The report's data-quality numbers beyond the malformed records and missing shares."""
    if profile is None or not records:
        return {
            "features": {},
            "invalid_share": 0.0,
            "missing_share": 0.0,
            "schema": {"missing_columns": [], "new_columns": [], "changes": 0},
            "range_tolerance": tolerance,
        }
    features: dict[str, Any] = {}
    for name, reference in sorted(profile.features.items()):
        seen = total.features.get(name)
        if seen is None:
            continue
        entry: dict[str, Any] = {"missing_share": 1.0 - seen.present / records}
        invalid = 0
        if reference.kind == "numeric" and seen.numeric is not None:
            entry["type_violations"] = seen.numeric.invalid
            entry["out_of_range"] = seen.numeric.outside
            invalid = seen.numeric.invalid + seen.numeric.outside
        elif reference.kind == "categorical" and seen.categories is not None:
            unseen = {c: n for c, n in seen.categories.items() if c not in reference.categories}
            entry["unseen_categories"] = sum(unseen.values())
            entry["unseen_examples"] = sorted(unseen, key=lambda c: (-unseen[c], c))[:EXAMPLES]
            invalid = entry["unseen_categories"]
        entry["invalid_share"] = invalid / records
        features[name] = entry
    columns = {name for name, f in total.features.items() if f.present and name[:1] != "@"}
    expected = set(profile.features) | set(profile.skipped)
    missing = sorted(set(profile.features) - columns)
    new = sorted(columns - expected)
    return {
        "features": features,
        "invalid_share": max((f["invalid_share"] for f in features.values()), default=0.0),
        "missing_share": max((f["missing_share"] for f in features.values()), default=0.0),
        "schema": {
            "missing_columns": missing,
            "new_columns": new,
            "changes": len(missing) + len(new),
        },
        "range_tolerance": tolerance,
    }
