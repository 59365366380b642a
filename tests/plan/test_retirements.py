"""Retirement phases on the calendar: each starts at midnight UTC of its day."""

from __future__ import annotations

from datetime import UTC, date, datetime

from mlops_gitops.plan.retirements import active_phase, next_phase
from mlops_gitops.spec import models as spec_models


def test_phases_start_at_midnight_utc_of_their_day() -> None:
    spec = spec_models.RetirementPlanSpec(
        model="clf", version="1.0.0", retirement_date=date(2027, 3, 1), replacement="1.2.0"
    )

    def at(text: str) -> str | None:
        phase = active_phase(spec, datetime.fromisoformat(text))
        return phase.name if phase else None

    assert at("2026-11-30T23:59:59+00:00") is None
    assert at("2026-12-01T00:00:00+00:00") == "deprecation_warning"
    assert at("2026-12-01T00:30:00+01:00") is None  # 2026-11-30T23:30 UTC
    assert at("2027-01-30T00:00:00+00:00") == "traffic_reduction"
    assert at("2027-02-22T00:00:00+00:00") == "final_migration"
    assert at("2027-03-01T00:00:00+00:00") == "retirement"
    assert at("2030-01-01T00:00:00+00:00") == "retirement"
    upcoming = next_phase(spec, datetime(2027, 2, 1, tzinfo=UTC))
    assert upcoming is not None and upcoming.name == "final_migration"
