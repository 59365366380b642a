"""The latest.json contract: what monitor writes is what every reader parses, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_gitops.report_model import ReportError, parse_report, read_report

GOLDEN = Path(__file__).parent / "data" / "golden" / "clf-prod.latest.json"


def test_the_golden_report_round_trips_unchanged() -> None:
    text = GOLDEN.read_bytes()
    report = parse_report(json.loads(text), "clf-prod")
    assert report.to_bytes() == text
    stable = report.versions["1.0.0"]
    assert stable.performance.metrics()["roc_auc"] == pytest.approx(0.423611111)
    assert stable.performance.metrics()["labelled"] == 36  # a gate on labelled evidence
    assert stable.latency_ms.quantiles() == {"p50": 5.0, "p95": 7.0, "p99": 7.0}
    assert report.drift.features["x"].drifted


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("versions", "1.0.0", "error_rate"), "0.9", "versions.1.0.0.error_rate"),
        (("window", "records"), True, "window.records"),
        (("drift", "share_drifted"), [1], "drift.share_drifted"),
        (("versions", "1.0.0", "records"), -3, "versions.1.0.0.records"),
    ],
)
def test_a_tampered_report_is_refused_naming_the_field(
    tmp_path: Path, path: tuple[str, ...], value: object, field: str
) -> None:
    data = json.loads(GOLDEN.read_text())
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    target = tmp_path / "latest.json"
    target.write_text(json.dumps(data))
    with pytest.raises(ReportError) as caught:
        read_report(target, "reports/clf-prod/latest.json")
    assert f"reports/clf-prod/latest.json: not a monitoring report: {field}" in str(caught.value)


def test_an_unreadable_report_is_an_error_and_a_missing_one_is_none(tmp_path: Path) -> None:
    assert read_report(tmp_path / "latest.json", "r") is None
    (tmp_path / "latest.json").write_text("{not json")
    with pytest.raises(ReportError, match="r: unreadable monitoring report"):
        read_report(tmp_path / "latest.json", "r")
    (tmp_path / "real.json").write_text("{}")
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    with pytest.raises(ReportError, match="symbolic link"):
        read_report(tmp_path / "link.json", "r")
