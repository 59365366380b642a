"""Canary-versus-stable comparisons that stay valid however often they are looked at.

Every comparison is an effect `delta` oriented so that positive means the canary is better,
estimated with a variance from the data:

* proportions (accuracy, error rate): the difference of the two shares;
* per-record values where lower is better (latency, absolute or squared error): the
  probability that a canary record beats a stable one (Mann-Whitney, ties counted half),
  minus one half. Rank-based, so a long tail does not swamp it, and the absolute and the
  squared error give the same answer.

The test is a mixture sequential probability ratio test (mSPRT, Johari et al. 2017; Robbins
1970): the likelihood ratio of the normal approximation, averaged over alternatives
`delta ~ N(delta0, tau^2)` (one side of it for one-sided tests). By Ville's inequality the
probability that it ever exceeds 1/alpha under the null is at most alpha, so the p-value
`min(1, 1/ratio)` may be computed after every new batch of data and acted on at once: the
always-valid p-value. Inverting the two-sided ratio gives a confidence sequence: an interval
that holds at every look simultaneously with probability 1 - alpha.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

TAU_PROPORTION = 0.02
"""Mixture spread for proportions: most power against changes of about two points."""
TAU_RANKS = 0.05
"""Mixture spread for the probability of superiority (0.05 is a small effect there)."""


@dataclass(frozen=True)
class Estimate:
    """An effect (positive: the canary is better), its variance, and what it is made of."""

    kind: str
    delta: float
    variance: float
    n_canary: int
    n_stable: int
    canary: float
    stable: float
    tau: float

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "delta": self.delta,
            "std_error": math.sqrt(self.variance),
            "n_canary": self.n_canary,
            "n_stable": self.n_stable,
            "canary": self.canary,
            "stable": self.stable,
        }


def log_ratio(estimate: Estimate, delta0: float, side: str) -> float:
    """log of the mixture likelihood ratio against `delta = delta0`.

    side "above": evidence that delta > delta0; "below": delta < delta0; "both": either.
    """
    v, t2 = estimate.variance, estimate.tau**2
    if v <= 0.0:
        return 0.0
    x = estimate.delta - delta0
    both = 0.5 * math.log(v / (v + t2)) + x * x * t2 / (2.0 * v * (v + t2))
    if side == "both":
        return both
    sign = 1.0 if side == "above" else -1.0
    z = sign * x * estimate.tau / math.sqrt(v * (v + t2))
    # scipy.stats.norm.logcdf's own kernel; loaded here: scipy.stats costs a second and 70 MB
    # to import, and a report without a canary never needs it.
    from scipy.special import log_ndtr

    return math.log(2.0) + both + float(log_ndtr(z))


def p_value(estimate: Estimate, delta0: float, side: str) -> float:
    """The always-valid p-value of this look alone; keep the running minimum across looks."""
    return min(1.0, math.exp(-log_ratio(estimate, delta0, side)))


def confidence_sequence(estimate: Estimate, alpha: float) -> tuple[float, float]:
    """The (1 - alpha) interval for delta, valid at every look at once."""
    v, t2 = estimate.variance, estimate.tau**2
    if v <= 0.0:
        return (estimate.delta, estimate.delta)
    half = math.sqrt(
        2.0 * v * (v + t2) / t2 * (math.log(1.0 / alpha) + 0.5 * math.log((v + t2) / v))
    )
    return (estimate.delta - half, estimate.delta + half)


def proportions(
    good_canary: int, n_canary: int, good_stable: int, n_stable: int, tau: float = TAU_PROPORTION
) -> Estimate | None:
    """Share of good outcomes (e.g. correct predictions) of canary minus that of stable."""
    if n_canary < 1 or n_stable < 1:
        return None
    pc, ps = good_canary / n_canary, good_stable / n_stable
    # Shrunk towards one half so that 0 of 500 errors still has a variance.
    qc = (good_canary + 0.5) / (n_canary + 1)
    qs = (good_stable + 0.5) / (n_stable + 1)
    variance = qc * (1 - qc) / n_canary + qs * (1 - qs) / n_stable
    return Estimate("difference of proportions", pc - ps, variance, n_canary, n_stable, pc, ps, tau)


def superiority(
    canary: npt.NDArray[np.float64], stable: npt.NDArray[np.float64], tau: float = TAU_RANKS
) -> Estimate | None:
    """P(canary value < stable value) + P(equal)/2 - 1/2, for lower-is-better values.

    The variance is DeLong's, from each record's placement among the other version's values.
    """
    nc, ns = int(canary.size), int(stable.size)
    if nc < 2 or ns < 2:
        return None
    s_sorted, c_sorted = np.sort(stable), np.sort(canary)
    # Share of stable values above each canary value (ties half): how often it wins.
    above = (ns - np.searchsorted(s_sorted, canary, side="right")) / ns
    ties = (
        np.searchsorted(s_sorted, canary, side="right") - np.searchsorted(s_sorted, canary)
    ) / ns
    place_c = above + 0.5 * ties
    below = np.searchsorted(c_sorted, stable) / nc
    ties_s = (
        np.searchsorted(c_sorted, stable, side="right") - np.searchsorted(c_sorted, stable)
    ) / nc
    place_s = below + 0.5 * ties_s  # share of canary values that beat each stable one
    theta = float(np.mean(place_c))
    variance = float(np.var(place_c, ddof=1) / nc + np.var(place_s, ddof=1) / ns)
    return Estimate(
        "probability of superiority",
        theta - 0.5,
        variance,
        nc,
        ns,
        float(np.median(canary)),
        float(np.median(stable)),
        tau,
    )
