"""Reference profiles: kinds, bins, bounded deterministic sample, exact JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlops_gitops.monitor.profile import (
    DECILES,
    PROFILE_FORMAT_VERSION,
    SAMPLE_SIZE,
    FeatureProfile,
    ReferenceProfile,
    build_profile,
)

SHA = "0" * 64


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(10.0, 2.0, n)
    x[::17] = np.nan
    colour = rng.choice(["red", "green", "blue"], n).astype(object)
    colour[::13] = None
    return pd.DataFrame(
        {
            "x": x,
            "count": rng.integers(0, 5, n),
            "colour": colour,
            "flag": rng.random(n) < 0.3,
            "tier": pd.Categorical(rng.choice(["a", "b"], n), categories=["a", "b", "unused"]),
            "when": pd.date_range("2024-01-01", periods=n, freq="min"),
            "target": rng.integers(0, 2, n),
        }
    )


def _dumps(profile: ReferenceProfile) -> str:
    return json.dumps(profile.to_json(), sort_keys=True, allow_nan=False)


def test_kinds_exclusions_and_skipped_dtypes() -> None:
    profile = build_profile(_frame(500), SHA)
    kinds = {name: f.kind for name, f in profile.features.items()}
    assert kinds == {
        "x": "numeric",
        "count": "numeric",
        "colour": "categorical",
        "flag": "categorical",
        "tier": "categorical",
    }
    assert "target" not in profile.features
    assert list(profile.skipped) == ["when"] and profile.skipped["when"].startswith("datetime64")
    assert profile.rows == 500 and profile.sha256 == SHA
    assert "x" not in build_profile(_frame(50), SHA, exclude=("x", "target")).features


def test_numeric_profile_bins_moments_and_missing() -> None:
    frame = _frame(2_000)
    frame.loc[5, "x"] = np.inf
    feature = build_profile(frame, SHA).features["x"]
    raw = frame["x"].to_numpy()
    values = np.sort(raw[np.isfinite(raw)])
    assert feature.count == values.size
    assert feature.missing == raw.size - values.size  # NaN and inf
    edges = np.unique(np.quantile(values, DECILES))
    assert feature.edges == edges.tolist()
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=edges.size + 1)
    assert feature.shares == (counts / values.size).tolist()
    assert len(feature.shares) == len(feature.edges) + 1
    assert feature.mean == float(np.mean(values))
    assert feature.std == float(np.std(values))
    assert feature.exact and feature.sample == values.tolist()


def test_ties_collapse_edges() -> None:
    frame = pd.DataFrame({"c": [1.0] * 90 + [2.0] * 10})
    feature = build_profile(frame, SHA).features["c"]
    assert feature.edges == [1.0, pytest.approx(1.1)]  # the 0.9 quantile interpolates 1 and 2
    assert feature.shares == [0.0, 0.9, 0.1]
    constant = build_profile(pd.DataFrame({"c": [3.0] * 20}), SHA).features["c"]
    assert constant.edges == [3.0] and constant.shares == [0.0, 1.0] and constant.std == 0.0


def test_all_missing_numeric_column() -> None:
    feature = build_profile(pd.DataFrame({"e": [np.nan, np.nan]}), SHA).features["e"]
    assert (feature.count, feature.missing, feature.mean, feature.std) == (0, 2, None, None)
    assert feature.edges == [] and feature.shares == [0.0] and feature.sample == []


def test_categorical_profile_counts_as_strings() -> None:
    frame = _frame(1_000)
    profile = build_profile(frame, SHA)
    colour = profile.features["colour"]
    expected = frame["colour"].dropna().value_counts().to_dict()
    assert colour.categories == dict(sorted(expected.items()))
    assert list(colour.categories) == sorted(colour.categories)
    assert colour.missing == int(frame["colour"].isna().sum())
    assert colour.count == sum(colour.categories.values())
    assert colour.sample == sorted(frame["colour"].dropna().tolist())
    flag = profile.features["flag"]
    assert set(flag.categories) == {"False", "True"}
    assert set(profile.features["tier"].categories) == {"a", "b"}  # unused category dropped


def test_bounded_sample_is_deterministic() -> None:
    n = SAMPLE_SIZE * 3 + 7
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(list("abcdefg"), n)})
    first = build_profile(frame, SHA)
    second = build_profile(frame.copy(), SHA)
    for name in ("x", "c"):
        feature = first.features[name]
        assert not feature.exact and feature.count == n
        assert len(feature.sample) == SAMPLE_SIZE
        assert feature.sample == sorted(feature.sample)
        assert feature.sample == second.features[name].sample
    assert set(first.features["x"].sample) <= set(frame["x"].tolist())
    # The seed follows the reference hash, so another reference draws another sample.
    other = build_profile(frame, "f" * 64)
    assert other.features["x"].sample != first.features["x"].sample
    # Bins, moments and counts always come from the whole reference.
    assert first.features["x"].mean == float(np.mean(np.sort(frame["x"].to_numpy())))
    assert sum(first.features["c"].categories.values()) == n
    assert _dumps(first) == _dumps(second)


def test_json_round_trip_is_exact_and_deterministic() -> None:
    rng = np.random.default_rng(11)
    frame = _frame(3_000)
    frame["awkward"] = rng.normal(size=3_000) * 1e-300 + np.pi  # floats needing all 17 digits
    profile = build_profile(frame, SHA)
    text = _dumps(profile)
    again = ReferenceProfile.from_json(json.loads(text))
    assert again == profile
    assert _dumps(again) == text
    assert _dumps(build_profile(frame, SHA)) == text
    data = json.loads(text)
    assert data["format_version"] == PROFILE_FORMAT_VERSION
    for feature in profile.features.values():
        assert FeatureProfile.from_json(feature.to_json()) == feature


def test_from_json_rejects_other_formats() -> None:
    data = build_profile(_frame(20), SHA).to_json()
    data["format_version"] = "0"
    with pytest.raises(ValueError, match="format"):
        ReferenceProfile.from_json(data)
    data = build_profile(_frame(20), SHA).to_json()
    data["features"]["x"]["kind"] = "text"
    with pytest.raises(ValueError, match="kind"):
        ReferenceProfile.from_json(data)
