"""Prometheus instant queries: live numbers for canary checks, gates and rule triggers.

The server is the Project's `monitoring.prometheus_url`, reached only through `net.request`
(one deadline, no redirects). A plain http:// URL needs `security.allow_insecure_http` and a
loopback or private address `security.allow_private_metrics`: a number read from it can
promote a model, so a repository cannot silently point it at something else on the network.
"""

from __future__ import annotations

import math
import urllib.parse
from dataclasses import dataclass

from mlops_gitops import net
from mlops_gitops.errors import MlopsError
from mlops_gitops.safeio import loads
from mlops_gitops.spec import models as spec_models
from mlops_gitops.urls import redact_url

TIMEOUT_SECONDS = 10.0
MAX_ANSWER_BYTES = 256 * 1024


@dataclass(frozen=True)
class Answer:
    """One query's number, or why there is none."""

    query: str
    value: float | None
    problem: str | None = None


def fill(query: str, deployment: str, stable: str, canary: str | None) -> str:
    """`$canary`, `$stable` and `$deployment` replaced (longest name first)."""
    out = query.replace("$deployment", deployment).replace("$stable", stable)
    return out.replace("$canary", canary or "")


def instant(project: spec_models.ProjectSpec, query: str) -> Answer:
    """The value of an instant query that returns one number (a scalar or one series)."""
    base = project.monitoring.prometheus_url
    if base is None:
        return Answer(query, None, "monitoring.prometheus_url is not set in the Project")
    security = project.security
    if base.lower().startswith("http://") and not security.allow_insecure_http:
        return Answer(
            query,
            None,
            "monitoring.prometheus_url is plain http://; set security.allow_insecure_http",
        )
    url = base.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
    try:
        response = net.request(
            "GET",
            url,
            timeout=TIMEOUT_SECONDS,
            allow_private=security.allow_private_metrics,
            max_body=MAX_ANSWER_BYTES,
        )
    except net.Refused as exc:
        why = exc.reason.split(";")[0]
        if "private" in why:
            why += "; set security.allow_private_metrics to query it"
        return Answer(query, None, f"refused Prometheus at {redact_url(base)}: {why}")
    except MlopsError as exc:
        return Answer(query, None, f"Prometheus at {redact_url(base)}: {exc.message}")
    try:
        return Answer(query, parse(response.status, response.body))
    except ValueError as exc:
        return Answer(query, None, f"Prometheus at {redact_url(base)}: {exc}")


def parse(status: int, body: bytes) -> float | None:
    """The number in an answer of /api/v1/query; None for an empty result or NaN."""
    try:
        data = loads(body)
    except ValueError:
        raise ValueError(f"HTTP {status}, not a JSON answer") from None
    if not isinstance(data, dict) or data.get("status") != "success":
        error = data.get("error") if isinstance(data, dict) else None
        raise ValueError(f"HTTP {status}: query failed: {str(error or 'no status')[:200]}")
    result = data.get("data")
    if not isinstance(result, dict):
        raise ValueError("answer without data")
    kind, found = result.get("resultType"), result.get("result")
    if kind == "scalar":
        return _number(found)
    if kind != "vector" or not isinstance(found, list):
        raise ValueError(f"a {kind} result; use a query that returns one number")
    if not found:
        return None
    if len(found) > 1:
        raise ValueError(f"{len(found)} series; aggregate them (sum, max, ...) to one number")
    series = found[0]
    return _number(series.get("value") if isinstance(series, dict) else None)


def _number(pair: object) -> float | None:
    if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[1], str):
        raise ValueError("malformed sample")
    try:
        value = float(pair[1])
    except ValueError:
        raise ValueError(f"not a number: {pair[1][:40]!r}") from None
    return value if math.isfinite(value) else None
