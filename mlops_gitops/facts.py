"""What was found about a version's artifact: produced by the providers that look at files,
read by the planner, which does no I/O itself."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ArtifactFact:
    """What the caller found when it looked at a version's artifact."""

    exists: bool
    sha256: str | None = None
    size: int | None = None
    scan_verdict: str | None = None
    """clean, unsafe, error or not-needed."""
    scan_findings: tuple[str, ...] = ()
    scanner: str | None = None
    error: str | None = None
    """Why the artifact cannot be used at all (missing, unreadable, not its format)."""
