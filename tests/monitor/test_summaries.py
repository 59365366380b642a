"""Mergeable window summaries: the same numbers whatever the batches, exact up to
`exact_max_records`, KLL sketches within their stated error beyond, records windows exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlops_gitops import api, cli
from mlops_gitops.monitor import formats
from tests.monitor.helpers import NOW, MonitorRepo, append, jsonl, read_report, record

LOGS = "logs/clf-prod"


def traffic(n: int, seed: int, start: int = 0, shift: float = 0.0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    xs = rng.normal(10.0 + shift, 2.0, n)
    return [
        record(
            start + i,
            "1.0.0" if i % 5 else "1.1.0",
            step=1.0,
            x=float(xs[i]),
            colour=("red", "green", "blue")[int(rng.integers(0, 3))],
            latency=float(rng.lognormal(1.0, 0.5)),
            score=float(rng.random()),
            label=int(rng.integers(0, 2)),
            prediction=int(rng.integers(0, 2)),
        )
        for i in range(n)
    ]


def make(tmp_path: Path, name: str, monitoring: dict[str, Any]) -> MonitorRepo:
    spec = MonitorRepo(tmp_path / name)
    spec.deployment(
        "clf-prod", canary=("1.1.0", 20), monitoring={"predictions": f"{LOGS}/"} | monitoring
    )
    return spec


def report_of(spec: MonitorRepo) -> dict[str, Any]:
    api.monitor(spec.root, now=NOW, commit=False)
    report = read_report(spec.root, "clf-prod")
    report["drift"]["policy"].pop("reference_sha256", None)
    return report


def test_batch_boundaries_do_not_change_the_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = traffic(3_000, seed=1)
    reports = []
    for name, block in (("one", formats.BLOCK_BYTES), ("many", 20_000)):
        monkeypatch.setattr(formats, "BLOCK_BYTES", block)
        spec = make(tmp_path, name, {"window": {"records": 2_000}})
        append(spec.root / LOGS / "a.jsonl", jsonl(records[:1_700]))
        append(spec.root / LOGS / "b.jsonl", jsonl(records[1_700:]))
        reports.append(report_of(spec))
    one, many = reports
    assert one["window"] == many["window"] and one["window"]["records"] == 2_000
    assert one["versions"] == many["versions"]
    for feature in ("x", "colour"):
        a, b = one["drift"]["features"][feature], many["drift"]["features"][feature]
        assert a["statistic"] == pytest.approx(b["statistic"], rel=1e-12, abs=1e-15)
        assert a["current_count"] == b["current_count"]


def test_beyond_exact_max_records_sketches_stay_within_their_bound(tmp_path: Path) -> None:
    records = traffic(6_000, seed=2, shift=0.3)
    reports = {}
    for name, limit in (("exact", 1_000_000), ("sketch", 1_000)):
        spec = make(
            tmp_path,
            name,
            {
                "window": {"duration": "7d"},
                "exact_max_records": limit,
                "drift": {"features": {"x": {"method": "wasserstein"}}},
            },
        )
        append(spec.root / LOGS / "a.jsonl", jsonl(records))
        reports[name] = report_of(spec)
    exact, sketch = reports["exact"], reports["sketch"]
    assert exact["window"] == sketch["window"]
    x_exact, x_sketch = exact["drift"]["features"]["x"], sketch["drift"]["features"]["x"]
    assert "current" not in x_exact["details"]  # exact: as before
    assert x_sketch["details"]["current"].startswith("KLL sketch of 6000 values")
    bound = x_sketch["details"]["statistic_error_bound"]
    assert 0 < bound < 0.1
    assert abs(x_sketch["statistic"] - x_exact["statistic"]) <= bound
    # bins and categories are exact in both
    assert x_sketch["details"]["histogram"] == x_exact["details"]["histogram"]
    assert sketch["drift"]["features"]["colour"] == exact["drift"]["features"]["colour"]
    # latency percentiles from the sketch, within its rank error of the exact ones
    for version in ("1.0.0", "1.1.0"):
        lat_e = exact["versions"][version]["latency_ms"]
        lat_s = sketch["versions"][version]["latency_ms"]
        assert "method" not in lat_e
        if exact["versions"][version]["records"] > 1_000:
            assert lat_s["method"].startswith("KLL sketch")
        values = np.sort([r["latency_ms"] for r in records if r["model_version"] == version])
        for key, q in (("p50", 0.5), ("p95", 0.95)):
            rank = np.searchsorted(values, lat_s[key]) / values.size
            assert abs(rank - q) <= 0.02, (version, key)
    auc_e = exact["versions"]["1.0.0"]["performance"]["roc_auc"]
    auc_s = sketch["versions"]["1.0.0"]["performance"]["roc_auc"]
    assert abs(auc_e - auc_s) <= 0.02


def test_a_records_window_beyond_the_exact_limit_keeps_exactly_the_newest(tmp_path: Path) -> None:
    """Two files whose times interleave: the cut-off splits batches of both, which are read
    again; the window is the newest N records, exactly, as with the exact engine."""
    early = traffic(2_000, seed=3, start=0)
    late = traffic(2_000, seed=4, start=1_000, shift=1.0)
    reports = {}
    for name, limit in (("exact", 1_000_000), ("sketch", 500)):
        spec = make(tmp_path, name, {"window": {"records": 2_500}, "exact_max_records": limit})
        append(spec.root / LOGS / "a.jsonl", jsonl(early))
        append(spec.root / LOGS / "b.jsonl", jsonl(late))
        reports[name] = report_of(spec)
    exact, sketch = reports["exact"], reports["sketch"]
    assert exact["window"] == sketch["window"]
    assert exact["window"]["records"] == 2_500
    for version in ("1.0.0", "1.1.0"):
        e, s = exact["versions"][version], sketch["versions"][version]
        assert (e["records"], e["errors"]) == (s["records"], s["errors"])
        assert e["performance"]["confusion_matrix"] == s["performance"]["confusion_matrix"]
    x_e, x_s = exact["drift"]["features"]["x"], sketch["drift"]["features"]["x"]
    assert x_e["current_count"] == x_s["current_count"] == 2_500
    assert x_e["details"]["histogram"] == x_s["details"]["histogram"]
    assert abs(x_e["statistic"] - x_s["statistic"]) <= x_s["details"]["statistic_error_bound"]


def test_exact_max_records_is_a_deployment_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = make(tmp_path, "bad", {"exact_max_records": 0})
    assert cli.main(["--no-color", "--repo", str(spec.root), "validate"]) == 1
    out = capsys.readouterr()
    assert "monitoring.exact_max_records" in out.out + out.err
    schema = (Path(__file__).parents[2] / "schemas" / "deployment.schema.json").read_text()
    assert "exact_max_records" in schema
