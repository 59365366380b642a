"""Simulated canaries: how often the analysis aborts or promotes, by the real decision code.

Each run draws correct/incorrect outcomes for both versions, looks `looks` times as equal
batches arrive (the same number of records per version at each look), and feeds every look
through the report entry (`monitor.canary.entry`) and the decisions of `automate.analysis`,
exactly as reconcile does, until the canary is promoted or aborted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from mlops_gitops.automate import analysis
from mlops_gitops.monitor import canary as report_checks
from mlops_gitops.monitor import sequential
from mlops_gitops.spec import models as spec_models
from mlops_gitops.state.progress import CheckMark

START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Outcome:
    runs: int
    aborted: int
    promoted: int

    @property
    def abort_share(self) -> float:
        return self.aborted / self.runs

    @property
    def promote_share(self) -> float:
        return self.promoted / self.runs


def simulate(
    runs: int,
    looks: int,
    per_arm: int,
    stable_accuracy: float,
    canary_accuracy: float,
    margin: float = 0.01,
    alpha: float = 0.05,
    max_failures: int = 2,
    seed: int = 0,
) -> Outcome:
    """`runs` canaries with an accuracy non-inferiority check, `per_arm` records each at the end."""
    rng = np.random.default_rng(seed)
    check = spec_models.CompareCheck(compare="accuracy", test="non_inferiority", margin=margin)
    canary = spec_models.Canary(
        version="2",
        traffic=10,
        steps=[10, 25, 50, 100],
        analysis=spec_models.CanaryAnalysis(
            interval=timedelta(hours=1), max_failures=max_failures, alpha=alpha, checks=[check]
        ),
    )
    aborted = promoted = 0
    for _ in range(runs):
        stable = rng.random(per_arm) < stable_accuracy
        new = rng.random(per_arm) < canary_accuracy
        result = _one(canary, check, stable, new, looks, alpha)
        aborted += result == "abort"
        promoted += result == "promote"
    return Outcome(runs, aborted, promoted)


def _one(
    canary: spec_models.Canary,
    check: spec_models.CompareCheck,
    stable: np.ndarray,
    new: np.ndarray,
    looks: int,
    alpha: float,
) -> str:
    progress = analysis.start("sim", canary, None, START)
    mark = CheckMark()
    name = report_checks.check_name(check)
    cum_s, cum_c = np.cumsum(stable), np.cumsum(new)
    for look in range(1, looks + 1):
        n = stable.size * look // looks
        found = sequential.proportions(int(cum_c[n - 1]), n, int(cum_s[n - 1]), n)
        assert found is not None
        entry = report_checks.entry(check, found, alpha)
        result, mark = analysis.judge_compare(name, entry, mark)
        now = START + timedelta(hours=look)
        decision = analysis.conclude("sim", canary, progress, [result], n, now, None, [], None)
        progress = decision.progress
        if decision.action in ("abort", "promote"):
            return decision.action
        if decision.action == "step":
            canary = canary.model_copy(update={"traffic": decision.traffic})
    return "undecided"
