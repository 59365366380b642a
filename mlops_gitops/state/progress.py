"""Progress records of the automation: what each rule and retirement plan has already done.

They live beside the other state records (`<state_dir>/rules/<rule>.json`,
`<state_dir>/retirements/<plan>.json`) and guard against acting twice on the same evidence or
taking the same phase twice. So an unreadable record is an error with a hint, never a silent
fresh start: forgetting it would let a rule act again on data it already acted on.
"""

from __future__ import annotations

import os
import stat
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
)

from mlops_gitops.errors import MlopsError
from mlops_gitops.safeio import dumps, loads
from mlops_gitops.spec.types import check_year

PROGRESS_SCHEMA_VERSION: Literal[1] = 1
P = TypeVar("P", bound="Progress")


def _in_range(value: datetime) -> datetime:
    check_year(value.year)  # 9999-12-31 plus a cooldown would overflow
    return value


Instant = Annotated[
    AwareDatetime,
    AfterValidator(_in_range),
    PlainSerializer(lambda t: t.isoformat(timespec="seconds"), return_type=str),
]
"""A time with its zone, written as `2026-11-27T09:00:00+00:00`, in the years 1900-9000."""


class Part(BaseModel):
    """Frozen and strict, like every state record."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Progress(Part):
    """A whole progress file: versioned for future migrations."""

    schema_version: Literal[1] = PROGRESS_SCHEMA_VERSION


class Firing(Part):
    """One time a rule acted: when, on which evidence, with which actions."""

    time: Instant
    evidence: str | None = None
    actions: list[str] = Field(default_factory=list)


class RuleProgress(Progress):
    rule: str
    last_fired: Instant | None = None
    last_evidence: str | None = None
    """The report (`reports/<d>/latest.json@<commit>`) the rule last acted on."""
    last_data: str | None = None
    """Fingerprint of the data it last acted on: the same data never acts twice."""
    last_schedule_run: Instant | None = None
    fired: list[Firing] = Field(default_factory=list)


class PhaseMark(Part):
    status: Literal["done", "started", "skipped"]
    time: Instant


class CanaryMark(Part):
    version: str
    traffic: Annotated[int, Field(ge=0, le=100)]


class TrafficMark(Part):
    """The last traffic step the tool took on one deployment."""

    day: str
    """UTC date of the step: one step per day."""
    time: Instant
    canary: CanaryMark | None


class RetirementProgress(Progress):
    plan: str
    model: str
    version: str
    phases: dict[str, PhaseMark] = Field(default_factory=dict)
    traffic: dict[str, TrafficMark] = Field(default_factory=dict)


MAX_PROGRESS_BYTES = 1024 * 1024


def restore_hint(rel: str) -> str:
    return f"restore it from git history: git log -- {rel}, then git checkout COMMIT -- {rel}"


def read_progress(path: Path, rel: str, kind: type[P]) -> P | None:
    """The record at `path` (shown as `rel`), None when there is none yet."""
    hint = restore_hint(rel)
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode):
            raise MlopsError(f"{rel}: not a regular file (a symlink or special file)", hint=hint)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read(MAX_PROGRESS_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise MlopsError(f"{rel}: cannot read: {exc.strerror or exc}", hint=hint) from None
    if len(raw) > MAX_PROGRESS_BYTES:
        raise MlopsError(f"{rel}: larger than {MAX_PROGRESS_BYTES} bytes", hint=hint)
    try:
        data = loads(raw)  # no NaN, nesting within budget
    except ValueError as exc:
        raise MlopsError(f"{rel}: not valid JSON: {exc}", hint=hint) from None
    newer = isinstance(data, dict) and isinstance(data.get("schema_version"), int)
    if newer and data["schema_version"] > PROGRESS_SCHEMA_VERSION:
        raise MlopsError(
            f"{rel}: written by a newer mlops-gitops (schema_version {data['schema_version']})",
            hint="upgrade mlops-gitops",
        )
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise MlopsError(f"{rel}: {where}: {first['msg']}", hint=hint) from None


def progress_bytes(record: Progress) -> bytes:
    """Sorted keys, two-space indent: readable diffs in the commits that carry them."""
    data = record.model_dump(mode="json")
    return (dumps(data, indent=2, sort_keys=True) + "\n").encode()


class CheckMark(Part):
    """The smallest always-valid p-values one comparison check has reached for this canary.

    Always-valid p-values may be acted on at any look; keeping their running minimum is what
    makes "shown worse at some look" stick instead of flickering with each new batch.
    """

    p_pass: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    p_fail: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0


class AnalysisMark(Part):
    """One counted analysis: when, what it decided, on which evidence."""

    time: Instant
    traffic: Annotated[int, Field(ge=0, le=100)]
    outcome: Literal["passed", "failed"]
    evidence: str | None = None


class CanaryProgress(Progress):
    """How far the automatic analysis of one deployment's canary has gone."""

    deployment: str
    version: str
    """The canary judged; a new canary version starts a new record."""
    started: Instant
    last_step: Instant
    """When the canary entered its current traffic (or appeared): one step per interval."""
    samples_at_step: Annotated[int, Field(ge=0)] = 0
    """Records per version in the window when the current step began."""
    last_analysis: Instant | None = None
    failures: Annotated[int, Field(ge=0)] = 0
    checks: dict[str, CheckMark] = Field(default_factory=dict)
    analyses: list[AnalysisMark] = Field(default_factory=list)
