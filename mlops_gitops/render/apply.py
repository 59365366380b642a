"""Apply results as text and JSON."""

from __future__ import annotations

from mlops_gitops.apply.run import ApplyResult
from mlops_gitops.render.base import Lines, Paint, document, plain

STATUS_STYLES = {"done": "green", "failed": "red", "blocked": "red", "skipped": "yellow"}
COUNTED = ("done", "failed", "blocked", "skipped")


def counts_text(result: ApplyResult) -> str:
    """`8 done, 3 blocked`: the non-zero counts in a fixed order."""
    counts = result.counts()
    return ", ".join(f"{counts[k]} {k}" for k in COUNTED if counts[k])


def apply_text(result: ApplyResult, paint: Paint = plain) -> str:
    out = Lines(paint)
    if result.resumed:
        out.add("Resuming an interrupted apply.", "yellow")
    for outcome in result.outcomes:
        line = f"{outcome.status:8s} {outcome.step.action} {outcome.step.object}"
        if outcome.message:
            line += f": {outcome.message}"
        out.add(line, STATUS_STYLES.get(outcome.status, "bold"))
        for warning in outcome.warnings:
            out.add(f"         warning: {warning}", "yellow")
    if not result.outcomes:
        out.add("No changes. Recorded state matches the specs.")
    else:
        out.add(f"Apply: {counts_text(result)}.", "bold")
    if result.commit:
        out.add(f"Committed {result.commit[:12]} (state serial {result.serial}).")
    elif result.serial is not None:
        out.add(f"State serial {result.serial}; not committed (--no-commit).")
    return out.text()


def apply_json(result: ApplyResult) -> str:
    return document(result.to_json())
