"""What the planner is told about signed commits (`policies.require_signed_commits`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Signature:
    commit: str | None
    verified: bool
    detail: str
    """Who signed it, or why it does not count."""


def deployment_key(name: str) -> str:
    return f"Deployment/{name}"


def version_key(model: str, version: str) -> str:
    return f"Model/{model}@{version}"
