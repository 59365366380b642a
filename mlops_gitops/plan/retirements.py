"""The calendar of retirement plans: which phase is active at a time, which versions are
deprecated. Pure: the planner, `status` and the retirement runner all read it.

A phase starts at 00:00 UTC on `retirement_date - days_before` and lasts until the next listed
phase starts; the last phase (normally `retirement`, 0 days before) never ends. A version is
deprecated from the start of its plan's first listed phase (normally `deprecation_warning`, 90
days before) for as long as it is listed in its Model spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from mlops_gitops.compile.manifest import Manifest
from mlops_gitops.spec import models as spec_models


def phase_start(spec: spec_models.RetirementPlanSpec, phase: spec_models.Phase) -> datetime:
    day = spec.retirement_date - timedelta(days=phase.days_before)
    return datetime.combine(day, time(), tzinfo=UTC)


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def started(spec: spec_models.RetirementPlanSpec, now: datetime) -> list[spec_models.Phase]:
    """The phases that have started by `now`, in order; the last one is the active phase."""
    return [p for p in spec.phases if phase_start(spec, p) <= _aware(now)]


def active_phase(spec: spec_models.RetirementPlanSpec, now: datetime) -> spec_models.Phase | None:
    begun = started(spec, now)
    return begun[-1] if begun else None


def next_phase(spec: spec_models.RetirementPlanSpec, now: datetime) -> spec_models.Phase | None:
    later = [p for p in spec.phases if phase_start(spec, p) > _aware(now)]
    return later[0] if later else None


@dataclass(frozen=True)
class Deprecation:
    """A version whose retirement plan has begun."""

    plan: str
    model: str
    version: str
    replacement: str
    retirement_date: str
    phase: str
    since: str

    def message(self) -> str:
        return (
            f"{self.model} {self.version} is deprecated: retirement plan {self.plan} retires it on "
            f"{self.retirement_date}, replaced by {self.replacement} (phase {self.phase} since "
            f"{self.since})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "replacement": self.replacement,
            "retirement_date": self.retirement_date,
            "phase": self.phase,
            "since": self.since,
        }


def deprecations(manifest: Manifest, now: datetime) -> dict[tuple[str, str], Deprecation]:
    """(model, version) -> its deprecation, for versions still in the spec whose plan began."""
    out = {}
    for name, plan in sorted(manifest.retirements.items()):
        spec = plan.spec
        phase = active_phase(spec, now)
        if phase is None or manifest.version(spec.model, spec.version) is None:
            continue
        out[(spec.model, spec.version)] = Deprecation(
            plan=name,
            model=spec.model,
            version=spec.version,
            replacement=spec.replacement,
            retirement_date=spec.retirement_date.isoformat(),
            phase=phase.name,
            since=phase_start(spec, phase).date().isoformat(),
        )
    return out


def deprecation_warnings(manifest: Manifest, now: datetime) -> list[str]:
    return [d.message() for _, d in sorted(deprecations(manifest, now).items())]
