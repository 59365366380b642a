"""Promotion gates: thresholds checked against offline or observed metrics, with the source."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlops_gitops.plan.model import GateResult
from mlops_gitops.spec.types import Threshold


@dataclass(frozen=True, slots=True)
class Observed:
    """A metric seen in production, from a monitoring report."""

    value: float
    source: str
    """Where the number came from, e.g. `reports/fraud-prod/latest.json`."""


Observations = Mapping[tuple[str, str], Mapping[str, Observed]]
"""(model, version) -> metric -> observed value. Filled from monitoring reports."""


def evaluate(
    gates: Mapping[str, Threshold],
    *,
    version: str,
    offline: Mapping[str, float],
    observed: Mapping[str, Observed],
    offline_source: str,
    policy: str | None = None,
) -> list[GateResult]:
    """Observed numbers win over offline ones: production is the better witness."""
    results = []
    for metric in sorted(gates):
        threshold = gates[metric]
        value: float | None = None
        source = "no metric recorded"
        if metric in observed:
            value, source = observed[metric].value, observed[metric].source
        elif metric in offline:
            value, source = offline[metric], offline_source
        passed = value is not None and threshold.check(value)
        results.append(
            GateResult(
                metric=metric,
                op=threshold.op,
                threshold=threshold.value,
                value=value,
                source=source,
                passed=passed,
                version=version,
                policy=policy,
            )
        )
    return results
