"""The sequential comparisons: the statistics, and the simulation bar at a smaller size."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mlops_gitops.automate.simulation import simulate
from mlops_gitops.monitor import sequential


def test_probability_of_superiority_matches_mann_whitney() -> None:
    rng = np.random.default_rng(3)
    canary = rng.lognormal(1.5, 0.5, 400).round(1)  # rounded: ties are counted half
    stable = rng.lognormal(1.6, 0.5, 700).round(1)
    found = sequential.superiority(canary, stable)
    assert found is not None
    u = stats.mannwhitneyu(stable, canary).statistic  # stable above canary: the canary wins
    assert found.delta + 0.5 == pytest.approx(u / (400 * 700))
    assert found.delta > 0  # lower latency is better


def test_rank_comparison_ignores_the_scale_of_errors() -> None:
    rng = np.random.default_rng(4)
    canary, stable = np.abs(rng.normal(0, 1, 300)), np.abs(rng.normal(0, 1.2, 300))
    absolute, squared = (
        sequential.superiority(canary, stable),
        sequential.superiority(canary**2, stable**2),
    )
    assert absolute is not None and squared is not None
    assert absolute.delta == pytest.approx(squared.delta)


def test_delong_variance_matches_the_spread_across_samples() -> None:
    rng = np.random.default_rng(5)
    deltas, variances = [], []
    for _ in range(300):
        found = sequential.superiority(rng.exponential(1.0, 200), rng.exponential(1.2, 300))
        assert found is not None
        deltas.append(found.delta)
        variances.append(found.variance)
    assert np.var(deltas) == pytest.approx(np.mean(variances), rel=0.25)


def test_p_values_point_the_right_way() -> None:
    worse = sequential.proportions(880, 1000, 950, 1000)
    assert worse is not None
    assert sequential.p_value(worse, 0.0, "below") < 1e-4  # shown worse
    assert sequential.p_value(worse, 0.0, "above") == 1.0  # no evidence it is better
    low, high = sequential.confidence_sequence(worse, 0.05)
    assert low < -0.07 < high < 0


def test_confidence_sequence_is_wider_than_a_fixed_sample_interval() -> None:
    found = sequential.proportions(900, 1000, 900, 1000)
    assert found is not None
    _, high = sequential.confidence_sequence(found, 0.05)
    fixed = 1.96 * math.sqrt(found.variance)
    assert high - found.delta > fixed  # the price of looking at every interval


def test_confidence_sequence_covers_the_truth_at_every_look() -> None:
    rng = np.random.default_rng(6)
    missed = 0
    for _ in range(300):
        canary, stable = rng.random(2400) < 0.85, rng.random(2400) < 0.80
        for n in range(100, 2401, 100):
            found = sequential.proportions(int(canary[:n].sum()), n, int(stable[:n].sum()), n)
            assert found is not None
            low, high = sequential.confidence_sequence(found, 0.05)
            if not low <= 0.05 <= high:
                missed += 1
                break
    assert missed / 300 <= 0.05


def test_aa_canaries_are_rarely_aborted() -> None:
    """Bar (a), smaller: 200 A/A canaries, 24 looks each."""
    found = simulate(200, 24, 2000, 0.9, 0.9, margin=0.01, alpha=0.05, seed=11)
    assert found.abort_share <= 0.05 + 0.02


def test_a_two_point_loss_is_aborted_not_promoted() -> None:
    """Bar (b), smaller: 100 canaries 2 points worse (95% -> 93%), 5,000 records each."""
    found = simulate(100, 24, 5000, 0.95, 0.93, margin=0.01, alpha=0.05, seed=12)
    assert found.abort_share >= 0.85
    assert found.promoted == 0
