"""Typed values parsed from spec strings at load time: durations, thresholds, cron, versions."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)

from mlops_gitops.spec.locations import ACCEPTED_SCHEMES, problem, scheme
from mlops_gitops.urls import check_http_url

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
"""Object names: lowercase letters, digits and dashes, up to 63 characters."""

Version = Annotated[str, StringConstraints(pattern=VERSION_PATTERN)]
"""Version strings; always quoted in YAML so `1.10` never becomes 1.1."""

Sha256 = Annotated[str, StringConstraints(pattern=SHA256_PATTERN)]

Tag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,62}$")]
"""A label for searching versions (`models --tag`)."""

PARENT_PATTERN = r"^([a-z0-9][a-z0-9-]{0,62}@)?[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$"
ParentRef = Annotated[str, StringConstraints(pattern=PARENT_PATTERN)]
"""`VERSION` of the same model, or `MODEL@VERSION` of another."""

PackageName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$")
]
_CLAUSE = r"(~=|===|==|!=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+"
PackagePin = Annotated[
    str, StringConstraints(pattern=rf"^\s*{_CLAUSE}(\s*,\s*{_CLAUSE})*\s*$", max_length=200)
]
"""A version specifier such as `==1.5.2` or `>=1.4,<2`."""

# ---------------------------------------------------------------- times and dates

MIN_YEAR = 1900
MAX_YEAR = 9000
"""Dates and times outside these years are typos or attacks; inside them, adding any allowed
duration to a date never overflows Python's calendar (which ends in 9999)."""


def check_year(year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"year {year} is out of range; dates must be in {MIN_YEAR}-{MAX_YEAR}")


def check_date(value: date) -> date:
    check_year(value.year)
    return value


Date = Annotated[date, AfterValidator(check_date)]

TYPE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$"
TypeName = Annotated[str, StringConstraints(pattern=TYPE_NAME_PATTERN, max_length=300)]
"""A fully qualified Python name such as `sklearn.tree._tree.Tree`: no wildcard, no prefix."""

# ---------------------------------------------------------------- durations

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
DURATION_PATTERN = r"^(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?$"
MAX_DURATION_DAYS = 36500
"""About 100 years: any longer duration is a typo, and would overflow date arithmetic."""


def parse_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError("a duration is a string such as 30m, 24h or 7d")
    match = _DURATION_RE.match(value.strip())
    if not value.strip() or match is None:
        raise ValueError(f"{value!r} is not a duration; use e.g. 90s, 30m, 24h, 7d, 2w or 1h30m")
    limit = MAX_DURATION_DAYS * _DURATION_UNITS["d"]
    seconds = 0
    for amount, unit in zip(match.groups(), "wdhms", strict=True):
        if amount:
            # Compare digit counts first: a 5,000-digit amount is not even an int to Python.
            seconds += int(amount) * _DURATION_UNITS[unit] if len(amount) <= 15 else limit + 1
    if seconds > limit:
        raise ValueError(f"{value!r} is too long; a duration may be at most {MAX_DURATION_DAYS}d")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    out = ""
    for unit in "wdhms":
        size = _DURATION_UNITS[unit]
        if seconds >= size:
            out += f"{seconds // size}{unit}"
            seconds %= size
    return out


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": DURATION_PATTERN, "examples": ["30m", "24h", "7d"]}
    ),
]

# ---------------------------------------------------------------- thresholds

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
_THRESHOLD_RE = re.compile(
    r"^\s*(>=|<=|==|!=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)
THRESHOLD_PATTERN = r"^\s*(>=|<=|==|!=|>|<)\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


@dataclass(frozen=True, slots=True)
class Threshold:
    """A comparison such as `>= 0.90`, checked against a metric value."""

    op: str
    value: float

    def check(self, observed: float) -> bool:
        return _OPS[self.op](observed, self.value)

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


def parse_threshold(value: Any) -> Threshold:
    if isinstance(value, Threshold):
        return value
    if not isinstance(value, str):
        raise ValueError(f'a threshold is a quoted comparison such as ">= 0.90", not {value!r}')
    match = _THRESHOLD_RE.match(value)
    if match is None:
        raise ValueError(
            f"{value!r} is not a threshold; use an operator (>=, >, <=, <, ==, !=) and a number,"
            ' e.g. ">= 0.90"'
        )
    number = float(match.group(2))
    if not math.isfinite(number):
        raise ValueError(f"{value!r} compares with {number}; a threshold needs a finite number")
    return Threshold(match.group(1), number)


ThresholdExpr = Annotated[
    Threshold,
    BeforeValidator(parse_threshold),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": THRESHOLD_PATTERN, "examples": [">= 0.90"]}),
]

# ---------------------------------------------------------------- cron


def check_cron(value: str) -> str:
    expr = " ".join(value.split())
    fields = expr.split(" ")
    if len(fields) != 5:
        raise ValueError(
            f"{value!r} is not a cron expression: expected 5 fields"
            " (minute hour day-of-month month day-of-week)"
        )
    from croniter import croniter  # lazy: only repositories with schedules pay for it

    if not croniter.is_valid(expr):
        raise ValueError(f"{value!r} is not a valid cron expression")
    return expr


Cron = Annotated[
    str,
    AfterValidator(check_cron),
    WithJsonSchema({"type": "string", "examples": ["0 3 * * 1"]}),
]

# ---------------------------------------------------------------- outbound URLs

HttpUrl = Annotated[
    str,
    AfterValidator(check_http_url),
    WithJsonSchema(
        {
            "type": "string",
            "format": "uri",
            "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://",
            "description": "An http:// or https:// URL. Not a link-local or cloud metadata"
            " address; loopback and private ones need security.allow_private_webhooks.",
        }
    ),
]
"""URLs the tool calls (webhooks, HTTP sources): well-formed, never a metadata address."""

# ---------------------------------------------------------------- repository paths


def is_uri(value: str) -> bool:
    """Whether a location has a scheme (`s3://...`, `file://...`, `data:...`)."""
    return scheme(value) is not None


def check_repo_path(value: str) -> str:
    """Paths in specs stay inside the repository; URIs need a scheme the tool may read.

    Whether http and file URIs are allowed depends on the Project: `validate` checks that.
    """
    if not value.strip():
        raise ValueError("must not be empty")
    found = scheme(value)
    if found is not None:
        if found not in ACCEPTED_SCHEMES or "chained" in (problem(value, None) or ""):
            raise ValueError(problem(value, None))
        return value
    if value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:[\\/]", value):
        raise ValueError(
            f"{value!r} is an absolute path; use a path inside the repository"
            " or a URI (s3://, gs://, https://; file:// needs security.allow_local_uris)"
        )
    depth = 0
    for part in re.split(r"[\\/]", value):
        if part == "..":
            depth -= 1
            if depth < 0:
                raise ValueError(f"{value!r} leaves the repository (..)")
        elif part not in ("", "."):
            depth += 1
    return value


RepoPath = Annotated[
    str,
    AfterValidator(check_repo_path),
    WithJsonSchema({"type": "string", "description": "Path inside the repository, or a URI."}),
]

_ENTRYPOINT_RE = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
Entrypoint = Annotated[str, StringConstraints(pattern=_ENTRYPOINT_RE)]
"""`module:function`, importable from the repository root."""


def to_quantity(value: Any) -> Any:
    """Resource quantities may be written as numbers (`cpu: 1`) or strings (`memory: 1Gi`)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return f"{value:g}"
    return value


Quantity = Annotated[
    str,
    BeforeValidator(to_quantity),
    StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"),
]
