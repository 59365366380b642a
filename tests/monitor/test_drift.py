"""Drift statistics against scipy, error rates under no drift, detection, policy and edge cases."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlops_gitops.monitor.drift import (
    AUTO_LARGE_REFERENCE,
    DEFAULT_THRESHOLDS,
    PSI_EPSILON,
    DriftReport,
    compute_drift,
    correct_p_values,
    ks_2samp_sorted,
    wasserstein_sorted,
)
from mlops_gitops.monitor.profile import DECILES, SAMPLE_SIZE, ReferenceProfile, build_profile
from mlops_gitops.monitor.summary import Quantiles
from mlops_gitops.spec.models import DriftSettings
from mlops_gitops.spec.models import FeatureDrift as FeatureSetting

SHA = "a" * 64
TOL = 1e-9


def settings(method: str = "auto", correction: str = "none", **kw: Any) -> DriftSettings:
    features = {k: FeatureSetting(**v) for k, v in kw.pop("features", {}).items()}
    return DriftSettings(method=method, correction=correction, features=features, **kw)


def one(
    ref: Any, cur: Any, method: str, correction: str = "none", name: str = "f"
) -> tuple[DriftReport, ReferenceProfile]:
    profile = build_profile(pd.DataFrame({name: ref}), SHA)
    return compute_drift(profile, {name: cur}, settings(method, correction)), profile


def numeric_pair(seed: int, n1: int, n2: int, ties: bool = False) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    if ties:
        return rng.integers(0, 12, n1).astype(float), rng.integers(1, 14, n2).astype(float)
    return rng.normal(0.0, 1.0, n1), rng.normal(0.1, 1.2, n2)


def reference_bins(ref: Any, cur: Any) -> tuple[Any, Any]:
    """Reference and current shares over the reference-decile bins, computed independently."""
    edges = np.unique(np.quantile(ref, DECILES))
    p = np.histogram(ref, bins=np.concatenate(([-np.inf], edges, [np.inf])))[0] / len(ref)
    q = np.histogram(cur, bins=np.concatenate(([-np.inf], edges, [np.inf])))[0] / len(cur)
    return p, q


def categorical_pair(seed: int, n1: int, n2: int) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    ref = rng.choice(["a", "b", "c", "d"], n1, p=[0.4, 0.3, 0.2, 0.1])
    cur = rng.choice(["a", "b", "c", "e"], n2, p=[0.35, 0.3, 0.25, 0.1])
    return ref, cur


def contingency(ref: Any, cur: Any) -> Any:
    names = sorted(set(ref) | set(cur))
    return np.array([[np.sum(ref == k) for k in names], [np.sum(cur == k) for k in names]])


# --- exact mode: every statistic equals scipy's ------------------------------------------------

SIZES = [(5, 7, False), (200, 300, False), (2_000, 2_000, True), (3_000, 7_001, False)]
SIZES += [(SAMPLE_SIZE, 25_000, False), (1_000, 12_000, True)]  # asymptotic p-values
SIZES += [(2_000, 150, False), (SAMPLE_SIZE, 40, True)]  # current smaller than reference


@pytest.mark.parametrize(("seed", "sizes"), list(enumerate(SIZES)))
def test_ks_matches_scipy(seed: int, sizes: tuple[int, int, bool]) -> None:
    ref, cur = numeric_pair(seed, *sizes)
    report, profile = one(ref, cur, "ks")
    assert profile.features["f"].exact
    result = report.features["f"]
    expected = stats.ks_2samp(ref, cur)
    assert result.method == "ks"
    assert abs(result.statistic - expected.statistic) <= TOL
    assert result.raw_p_value is not None and result.p_value == result.raw_p_value
    assert abs(result.raw_p_value - expected.pvalue) <= TOL
    exact = max(sizes[0], sizes[1]) <= 10_000
    assert result.details["p_value_method"] == ("exact" if exact else "asymptotic")


@pytest.mark.parametrize(("seed", "sizes"), list(enumerate(SIZES)))
def test_wasserstein_matches_scipy(seed: int, sizes: tuple[int, int, bool]) -> None:
    ref, cur = numeric_pair(seed, *sizes)
    result = one(ref, cur, "wasserstein")[0].features["f"]
    expected = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert abs(result.statistic - expected) <= TOL
    assert result.p_value is None and result.details["normalized_by"] == "reference std"


@pytest.mark.parametrize(("seed", "sizes"), list(enumerate(SIZES)))
def test_binned_js_and_psi_match_direct_formulas(seed: int, sizes: tuple[int, int, bool]) -> None:
    ref, cur = numeric_pair(seed, *sizes)
    p, q = reference_bins(ref, cur)
    js = one(ref, cur, "js")[0].features["f"]
    assert abs(js.statistic - jensenshannon(p, q, base=2)) <= TOL
    assert js.details["log_base"] == 2
    assert js.details["histogram"]["reference"] == pytest.approx(p.tolist(), abs=1e-12)
    assert js.details["histogram"]["current"] == pytest.approx(q.tolist(), abs=1e-12)
    psi = one(ref, cur, "psi")[0].features["f"]
    pe, qe = np.maximum(p, PSI_EPSILON), np.maximum(q, PSI_EPSILON)
    assert abs(psi.statistic - np.sum((qe - pe) * np.log(qe / pe))) <= TOL
    assert psi.details["epsilon"] == PSI_EPSILON == 1e-4


def test_psi_epsilon_covers_empty_bins() -> None:
    ref = np.arange(100.0)
    cur = np.full(50, 1_000.0)  # everything in the open-ended top bin
    result = one(ref, cur, "psi")[0].features["f"]
    p, q = reference_bins(ref, cur)
    assert q[:-1].sum() == 0.0
    pe, qe = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
    assert result.statistic == pytest.approx(float(np.sum((qe - pe) * np.log(qe / pe))), abs=TOL)
    assert result.drifted


@pytest.mark.parametrize(("seed", "n1", "n2"), [(0, 50, 60), (1, 800, 400), (2, 5_000, 9_000)])
def test_categorical_statistics_match_scipy(seed: int, n1: int, n2: int) -> None:
    ref, cur = categorical_pair(seed, n1, n2)
    table = contingency(ref, cur)
    chi2 = one(ref, cur, "chi2")[0].features["f"]
    expected = stats.chi2_contingency(table)
    assert abs(chi2.statistic - expected.statistic) <= TOL
    assert chi2.raw_p_value is not None and abs(chi2.raw_p_value - expected.pvalue) <= TOL
    assert chi2.details["dof"] == expected.dof
    p, q = table[0] / table[0].sum(), table[1] / table[1].sum()
    js = one(ref, cur, "js")[0].features["f"]
    assert abs(js.statistic - jensenshannon(p, q, base=2)) <= TOL
    psi = one(ref, cur, "psi")[0].features["f"]
    pe, qe = np.maximum(p, PSI_EPSILON), np.maximum(q, PSI_EPSILON)
    assert abs(psi.statistic - np.sum((qe - pe) * np.log(qe / pe))) <= TOL


def test_chi2_two_categories_uses_scipys_yates_default() -> None:
    rng = np.random.default_rng(5)
    ref, cur = rng.choice(["y", "n"], 300), rng.choice(["y", "n"], 200, p=[0.6, 0.4])
    result = one(ref, cur, "chi2")[0].features["f"]
    expected = stats.chi2_contingency(contingency(ref, cur))
    assert abs(result.statistic - expected.statistic) <= TOL
    assert result.details["yates_correction"] is True


@pytest.mark.slow
def test_sorted_kernels_match_scipy_on_random_shapes() -> None:
    rng = np.random.default_rng(99)
    for trial in range(150):
        n1, n2 = int(rng.integers(1, 400)), int(rng.integers(1, 12_000))
        if trial % 2:
            a, b = rng.integers(-3, 4, n1).astype(float), rng.integers(-2, 6, n2).astype(float)
        else:
            a, b = rng.standard_cauchy(n1), rng.standard_cauchy(n2) + 0.3
        a.sort()
        b.sort()
        d, p, _ = ks_2samp_sorted(a, b)
        expected = stats.ks_2samp(a, b)
        assert abs(d - expected.statistic) <= TOL and abs(p - expected.pvalue) <= TOL
        expected = stats.wasserstein_distance(a, b)
        for w in (wasserstein_sorted(a, b), wasserstein_sorted(b, a)):
            assert abs(w - expected) <= TOL * max(1.0, expected)


# --- false positives without drift, detection with it -----------------------------------------


@pytest.mark.slow
def test_no_drift_false_positive_rate_for_p_value_methods() -> None:
    one([1.0, 2.0, 3.0], [1.0, 2.0], "ks")  # scipy is loaded on the first p-value, not timed
    started = time.process_time()  # CPU time: a busy machine does not eat into the budget
    rng = np.random.default_rng(2024)
    trials, n_ref, n_cur = 400, 300, 250
    numeric = ["n0", "n1", "n2"]
    categorical = ["c0", "c1"]
    flags: dict[str, int] = dict.fromkeys(numeric + categorical, 0)
    policy = settings("auto", "none")
    for _ in range(trials):

        def draw(n: int) -> dict[str, Any]:
            data: dict[str, Any] = {k: rng.normal(size=n) for k in numeric}
            for k in categorical:
                data[k] = rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1])
            return data

        profile = build_profile(pd.DataFrame(draw(n_ref)), SHA)
        report = compute_drift(profile, draw(n_cur), policy)
        for name, result in report.features.items():
            assert result.method == ("ks" if name in numeric else "chi2")
            flags[name] += result.drifted
    rates = {name: n / trials for name, n in flags.items()}
    assert all(0.02 <= r <= 0.08 for r in rates.values()), rates
    assert time.process_time() - started < 10.0


def test_mean_shift_is_detected_by_every_numeric_method() -> None:
    rng = np.random.default_rng(7)
    ref, cur = rng.normal(size=3_000), rng.normal(0.5, 1.0, 3_000)
    for method in ("ks", "wasserstein", "psi", "js"):
        result = one(ref, cur, method)[0].features["f"]
        assert result.drifted, (method, result.statistic)
        assert result.details["current_mean"] > result.details["reference_mean"] + 0.3
    same = rng.normal(size=3_000)
    for method in ("ks", "wasserstein", "psi", "js"):
        assert not one(ref, same, method)[0].features["f"].drifted, method


def test_new_category_is_detected() -> None:
    rng = np.random.default_rng(8)
    ref = rng.choice(["a", "b", "c"], 2_000)
    cur = np.concatenate([rng.choice(["a", "b", "c"], 1_500), np.full(500, "zzz")])
    for method in ("chi2", "js", "psi"):
        result = one(ref, cur, method)[0].features["f"]
        assert result.drifted, method
        assert result.details["new_categories"] == ["zzz"]
    assert not one(ref, rng.choice(["a", "b", "c"], 2_000), "js")[0].features["f"].drifted


# --- method selection, overrides, fallbacks -----------------------------------------------------


def test_auto_selects_by_type_and_reference_size() -> None:
    rng = np.random.default_rng(1)
    for n, numeric, categorical in [
        (AUTO_LARGE_REFERENCE, "ks", "chi2"),
        (AUTO_LARGE_REFERENCE + 1, "wasserstein", "js"),
    ]:
        frame = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b"], n)})
        profile = build_profile(frame, SHA)
        report = compute_drift(profile, {"x": rng.normal(size=50), "c": ["a"] * 50}, settings())
        assert report.features["x"].method == numeric
        assert report.features["c"].method == categorical
        assert "auto" in report.features["x"].details["selected_by"]
        assert report.features["x"].threshold == DEFAULT_THRESHOLDS[numeric]


def test_auto_counts_non_missing_reference_values() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=1_500)
    x[:600] = np.nan  # 900 usable values
    report, _ = one(x, rng.normal(size=100), "auto")
    assert report.features["f"].method == "ks"


def test_per_feature_overrides_of_method_and_threshold() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({k: rng.normal(size=500) for k in ("a", "b", "c")})
    current = {"a": rng.normal(0.3, 1, 500), "b": rng.normal(0.3, 1, 500), "c": rng.normal(size=9)}
    policy = settings(
        "ks",
        features={
            "a": {"method": "psi", "threshold": 0.01},
            "b": {"threshold": 1e-12},
            "c": {"method": "wasserstein"},
        },
    )
    report = compute_drift(build_profile(frame, SHA), current, policy)
    a, b, c = (report.features[k] for k in "abc")
    assert (a.method, a.threshold, a.drifted) == ("psi", 0.01, True)
    assert a.details["threshold_source"] == "feature override"
    assert (b.method, b.threshold) == ("ks", 1e-12)
    assert b.raw_p_value is not None and b.raw_p_value > 1e-12 and not b.drifted
    assert (c.method, c.threshold) == ("wasserstein", DEFAULT_THRESHOLDS["wasserstein"])
    assert report.policy["overrides"]["a"] == {"method": "psi", "threshold": 0.01}


def test_incompatible_methods_fall_back_and_say_so() -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"x": rng.normal(size=300), "c": rng.choice(["a", "b", "c"], 300)})
    profile = build_profile(frame, SHA)
    current = {"x": rng.normal(size=200), "c": rng.choice(["a", "b", "c"], 200)}
    for asked, numeric, categorical in [
        ("ks", "ks", "chi2"),
        ("wasserstein", "wasserstein", "js"),
        ("chi2", "ks", "chi2"),
        ("psi", "psi", "psi"),
        ("js", "js", "js"),
    ]:
        report = compute_drift(profile, current, settings(asked))
        x, c = report.features["x"], report.features["c"]
        assert (x.method, c.method) == (numeric, categorical), asked
        for result in (x, c):
            if result.method != asked:
                assert result.details["requested_method"] == asked
                assert "does not apply" in result.details["fallback"]
            else:
                assert "fallback" not in result.details
        json.dumps(report.to_json(), allow_nan=False)


# --- multiple testing and dataset drift --------------------------------------------------------


def test_correction_functions_match_scipy() -> None:
    p = [0.005, 0.01, 0.02, 0.03, 0.5, 0.2, 0.04]
    bh = correct_p_values(p, "benjamini-hochberg")
    assert bh == pytest.approx(stats.false_discovery_control(p, method="bh").tolist(), abs=1e-15)
    assert correct_p_values(p, "bonferroni") == [min(1.0, v * len(p)) for v in p]
    assert correct_p_values(p, "none") == p
    assert correct_p_values([], "bonferroni") == []


def test_bh_flags_more_than_bonferroni_and_is_named_in_policy() -> None:
    rng = np.random.default_rng(16)
    shifts = [0.0, 0.12, 0.13, 0.14, 0.15, 0.16, 0.0, 0.0]  # modest shifts: p-values near alpha
    names = [f"x{i}" for i in range(len(shifts))]
    frame = pd.DataFrame({k: rng.normal(size=800) for k in names})
    current = {k: rng.normal(s, 1.0, 800) for k, s in zip(names, shifts, strict=True)}
    profile = build_profile(frame, SHA)
    runs = {c: compute_drift(profile, current, settings("ks", c)) for c in ("none", "bonferroni")}
    runs["bh"] = compute_drift(profile, current, settings("ks", "benjamini-hochberg"))
    raw = [runs["none"].features[k].raw_p_value for k in names]
    assert all(isinstance(v, float) for v in raw)
    expected = {
        "bh": stats.false_discovery_control(raw, method="bh"),
        "bonferroni": np.minimum(np.asarray(raw) * len(raw), 1.0),
        "none": np.asarray(raw),
    }
    drifted = {}
    for key, report in runs.items():
        got = [report.features[k].p_value for k in names]
        assert got == pytest.approx(expected[key].tolist(), abs=1e-12)
        assert [report.features[k].raw_p_value for k in names] == raw
        flags = [report.features[k].drifted for k in names]
        assert flags == [bool(v < 0.05) for v in expected[key]]
        drifted[key] = sum(flags)
    assert runs["bh"].policy["correction"] == "benjamini-hochberg"
    assert runs["bonferroni"].policy["correction"] == "bonferroni"
    assert drifted["none"] >= drifted["bh"] > drifted["bonferroni"]


def test_correction_spans_only_p_value_features() -> None:
    rng = np.random.default_rng(13)
    frame = pd.DataFrame({"x": rng.normal(size=400), "y": rng.normal(size=400)})
    current = {"x": rng.normal(0.2, 1, 400), "y": rng.normal(size=400)}
    policy = settings("ks", "bonferroni", features={"y": {"method": "psi"}})
    report = compute_drift(build_profile(frame, SHA), current, policy)
    x = report.features["x"]
    assert x.p_value == x.raw_p_value  # one p-value feature: nothing to correct across
    assert report.features["y"].p_value is None


def test_dataset_drift_at_drift_share() -> None:
    rng = np.random.default_rng(14)
    names = ["a", "b", "c", "d"]
    frame = pd.DataFrame({k: rng.normal(size=1_000) for k in names})
    profile = build_profile(frame, SHA)
    current = {k: rng.normal(3.0 if k in "ab" else 0.0, 1, 1_000) for k in names}
    half = compute_drift(profile, current, settings("psi", drift_share=0.5))
    assert half.share_drifted == 0.5 and half.dataset_drift and half.evaluated == 4
    strict = compute_drift(profile, current, settings("psi", drift_share=0.75))
    assert strict.share_drifted == 0.5 and not strict.dataset_drift
    # An absent feature is reported but not counted.
    partial = compute_drift(profile, {k: current[k] for k in "abc"}, settings("psi"))
    assert partial.evaluated == 3 and partial.share_drifted == pytest.approx(2 / 3)
    assert not partial.features["d"].drifted and not partial.features["d"].evaluated


# --- missing data, absent features, empty windows ---------------------------------------------


def test_missing_values_are_ignored_and_counted() -> None:
    rng = np.random.default_rng(15)
    ref = rng.normal(size=500)
    cur = rng.normal(0.1, 1, 400)
    holey = pd.Series(np.concatenate([cur, [np.nan, np.inf]]), dtype=object)
    holey = pd.concat([holey, pd.Series([None, "oops"], dtype=object)], ignore_index=True)
    clean = one(ref, cur, "ks")[0].features["f"]
    result = one(ref, holey, "ks")[0].features["f"]
    assert (result.statistic, result.raw_p_value) == (clean.statistic, clean.raw_p_value)
    assert result.current_count == 400
    assert result.details["current_missing"] == 3 and result.details["current_invalid"] == 1
    cats = np.array(["a", "b", None, float("nan"), "a"], dtype=object)
    chi = one(np.array(["a", "b"] * 20, dtype=object), cats, "chi2")[0].features["f"]
    assert chi.current_count == 3 and chi.details["current_missing"] == 2


def test_absent_feature_and_empty_window_do_not_crash() -> None:
    rng = np.random.default_rng(16)
    frame = pd.DataFrame({"x": rng.normal(size=200), "c": rng.choice(["a", "b"], 200)})
    profile = build_profile(frame, SHA)
    absent = compute_drift(profile, {"x": rng.normal(size=50)}, settings())
    c = absent.features["c"]
    assert not c.drifted and c.p_value is None and "absent" in c.details["note"]
    for method in ("auto", "ks", "psi", "js", "wasserstein", "chi2"):
        empty: dict[str, Any]
        for empty in ({"x": [], "c": []}, {"x": np.array([np.nan]), "c": [None, None]}, {}):
            report = compute_drift(profile, empty, settings(method, "benjamini-hochberg"))
            assert not report.dataset_drift and report.share_drifted == 0.0
            assert report.evaluated == 0
            for result in report.features.values():
                assert result.statistic == 0.0 and result.p_value is None
                assert not result.drifted and result.details["note"]
            json.dumps(report.to_json(), allow_nan=False)


def test_degenerate_references() -> None:
    constant = np.full(300, 2.0)
    result = one(constant, np.full(100, 2.5), "wasserstein")[0].features["f"]
    assert result.details["normalized_by"].startswith("none")
    assert result.statistic == pytest.approx(0.5) and result.drifted
    for method in ("ks", "psi", "js"):
        report = one(constant, np.full(100, 2.0), method)[0]
        assert not report.features["f"].drifted, method
        json.dumps(report.to_json(), allow_nan=False)
    single = one(np.array(["a"] * 30), np.array(["a"] * 10), "chi2")[0].features["f"]
    assert (single.statistic, single.raw_p_value, single.drifted) == (0.0, 1.0, False)
    empty_ref = build_profile(pd.DataFrame({"f": [np.nan] * 5}), SHA)
    report = compute_drift(empty_ref, {"f": [1.0, 2.0]}, settings())
    assert "reference has no values" in report.features["f"].details["note"]


def test_large_reference_uses_the_sample_and_whole_reference_moments() -> None:
    rng = np.random.default_rng(17)
    ref = rng.normal(5.0, 2.0, SAMPLE_SIZE * 2)
    cur = rng.normal(5.0, 2.0, 30_000)
    report, profile = one(ref, cur, "wasserstein")
    feature = profile.features["f"]
    result = report.features["f"]
    assert not feature.exact and "sample" in result.details["reference"]
    sample = np.asarray(feature.sample)
    expected = stats.wasserstein_distance(sample, cur) / np.std(ref)
    assert result.statistic == pytest.approx(expected, abs=TOL)
    ks = compute_drift(profile, {"f": cur}, settings("ks")).features["f"]
    assert ks.statistic == pytest.approx(stats.ks_2samp(sample, cur).statistic, abs=TOL)


def test_to_json_shape() -> None:
    rng = np.random.default_rng(18)
    report, _ = one(rng.normal(size=100), rng.normal(size=100), "ks", "bonferroni")
    data = json.loads(json.dumps(report.to_json(), allow_nan=False))
    assert set(data) >= {"policy", "dataset_drift", "share_drifted", "features"}
    assert set(data["policy"]) >= {"method", "drift_share", "correction", "thresholds"}
    assert set(data["features"]["f"]) >= {"method", "statistic", "p_value", "threshold", "drifted"}


# --- each current column converted once and sorted at most once --------------------------------


def test_current_data_sorted_at_most_once_per_feature(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(19)
    n = 5_000
    frame = pd.DataFrame({k: rng.normal(size=n) for k in ("a", "b", "c")})
    frame["k"] = rng.choice(["x", "y"], n)
    profile = build_profile(frame, SHA)
    current = {k: rng.normal(size=n) for k in ("a", "b", "c")}
    current["k"] = rng.choice(["x", "y"], n)
    big: list[str] = []
    for fn in ("sort", "argsort", "unique", "lexsort", "partition", "quantile", "median"):
        original = getattr(np, fn)

        def counting(*args: Any, _fn: str = fn, _original: Any = original, **kw: Any) -> Any:
            if args and np.size(args[0]) >= n:
                big.append(_fn)
            return _original(*args, **kw)

        monkeypatch.setattr(np, fn, counting)
    # The one place current values are sorted (in place, in a copy of their own).
    original_sorted = Quantiles.sorted_array

    def sorted_array(self: Quantiles) -> Any:
        big.append("sorted_array")
        return original_sorted(self)

    monkeypatch.setattr(Quantiles, "sorted_array", sorted_array)
    for method, sorts in [("ks", 3), ("wasserstein", 3), ("psi", 0), ("js", 0), ("auto", 3)]:
        big.clear()
        compute_drift(profile, current, settings(method))
        assert big == ["sorted_array"] * sorts, method


def test_values_at_the_float_limit_stay_json_safe() -> None:
    ref = np.r_[np.zeros(50), np.full(50, 1e308)]
    profile = build_profile(pd.DataFrame({"f": ref}), SHA)
    json.dumps(profile.to_json(), allow_nan=False)
    current = {"f": np.r_[np.full(50, -1e308), np.full(50, 1e308)]}
    for method in ("ks", "wasserstein", "psi", "js"):
        report = compute_drift(profile, current, settings(method))
        json.dumps(report.to_json(), allow_nan=False)
        assert report.features["f"].drifted, method
