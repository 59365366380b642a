"""Data quality against the reference profile: counted in mergeable summaries, so the numbers
are the same whatever the batches, files or engine; and gates and rules can act on them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlops_gitops import api
from mlops_gitops.monitor import formats
from tests.monitor.helpers import MonitorRepo, append, jsonl, read_report, record, reference_frame

NOW = "2026-11-28T00:00:00Z"
LOGS = "logs/clf-prod"


def messy(n: int = 400) -> list[dict[str, Any]]:
    """Clean traffic with, at known places: text in the numeric x, x far past the reference
    range, an unseen colour, a missing x, and a column the reference never had."""
    records = []
    for i in range(n):
        r = record(i, "1.0.0" if i % 5 else "1.1.0", step=10.0, x=10.0 + (i % 7) - 3.0)
        if i % 50 == 1:
            r["features"]["x"] = "n/a"  # a type violation, not a missing value
        elif i % 50 == 2:
            r["features"]["x"] = 1e6  # out of range
        elif i % 50 == 3:
            r["features"]["x"] = None  # missing
        elif i % 50 == 4:
            r["features"]["colour"] = "purple"  # unseen
        if i % 100 == 5:
            r["features"]["session"] = "s1"  # not in the reference: a schema change
        records.append(r)
    return records


def monitored(tmp_path: Path, name: str, **monitoring: Any) -> MonitorRepo:
    spec = MonitorRepo(tmp_path / name)
    spec.deployment(
        "clf-prod",
        canary=("1.1.0", 20),
        monitoring={"predictions": f"{LOGS}/", "window": {"records": 10_000}} | monitoring,
    )
    return spec


def quality_of(spec: MonitorRepo) -> dict[str, Any]:
    api.monitor(spec.root, now=NOW, commit=False)
    section: dict[str, Any] = read_report(spec.root, "clf-prod")["data_quality"]
    return section


def test_each_kind_of_problem_is_counted_as_itself(tmp_path: Path) -> None:
    spec = monitored(tmp_path, "repo")
    append(spec.root / LOGS / "a.jsonl", jsonl(messy()))
    quality = quality_of(spec)
    x, colour = quality["features"]["x"], quality["features"]["colour"]
    assert x["type_violations"] == 8  # "n/a" x 8: invalid, and not missing
    assert x["out_of_range"] == 8
    assert x["missing_share"] == pytest.approx(8 / 400)
    assert quality["missing"]["x"] == pytest.approx(8 / 400)
    assert x["invalid_share"] == pytest.approx(16 / 400)
    assert colour["unseen_categories"] == 8 and colour["unseen_examples"] == ["purple"]
    assert colour["invalid_share"] == pytest.approx(8 / 400)
    assert quality["invalid_share"] == pytest.approx(16 / 400)
    assert quality["schema"] == {"missing_columns": [], "new_columns": ["session"], "changes": 1}


def test_values_within_the_tolerance_of_the_range_are_valid(tmp_path: Path) -> None:
    reference = reference_frame(seed=0)  # the stable version's reference
    low, high = float(reference["x"].min()), float(reference["x"].max())
    span = high - low
    inside = [record(0, x=high + 0.09 * span), record(1, x=low - 0.09 * span)]
    outside = [record(2, x=high + 0.11 * span), record(3, x=low - 0.5 * span)]
    spec = monitored(tmp_path, "repo")
    append(spec.root / LOGS / "a.jsonl", jsonl(inside + outside))
    assert quality_of(spec)["features"]["x"]["out_of_range"] == 2
    strict = monitored(tmp_path, "strict", range_tolerance=0.0)
    append(strict.root / LOGS / "a.jsonl", jsonl(inside + outside))
    assert quality_of(strict)["features"]["x"]["out_of_range"] == 4


def test_a_column_missing_from_the_logs_is_a_schema_change(tmp_path: Path) -> None:
    records = [record(i) for i in range(20)]
    for r in records:
        del r["features"]["colour"]
    spec = monitored(tmp_path, "repo")
    append(spec.root / LOGS / "a.jsonl", jsonl(records))
    quality = quality_of(spec)
    assert quality["schema"] == {"missing_columns": ["colour"], "new_columns": [], "changes": 1}


def test_batches_and_files_do_not_change_the_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = messy(3_000)
    sections = []
    for name, block in (("one", formats.BLOCK_BYTES), ("many", 20_000)):
        monkeypatch.setattr(formats, "BLOCK_BYTES", block)
        spec = monitored(tmp_path, name)
        append(spec.root / LOGS / "a.jsonl", jsonl(records[:1_300]))
        append(spec.root / LOGS / "b.jsonl", jsonl(records[1_300:]))
        sections.append(quality_of(spec))
    assert sections[0] == sections[1]
    assert sections[0]["features"]["x"]["type_violations"] == 60
