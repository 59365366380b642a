"""Training results as text and JSON."""

from __future__ import annotations

from mlops_gitops.render.base import Lines, Paint, document, plain
from mlops_gitops.train.pipeline import TrainResult


def train_text(result: TrainResult, paint: Paint = plain) -> str:
    out = Lines(paint)
    shown = ", ".join(f"{k} {v}" for k, v in result.metrics.items())
    if not result.ok:
        out.add(f"Training {result.pipeline} failed its thresholds ({shown}):", "red")
        for failure in result.failures:
            out.add(f"  {failure}", "red")
        if result.commit:
            out.add(f"Recorded the failed run in commit {result.commit[:12]}; no version added.")
        else:
            out.add("No version was added.")
        return out.text()
    out.add(f"Trained {result.model} {result.version}: {shown}", "green")
    for path in result.files:
        out.add(f"  wrote {path}")
    if result.commit:
        out.add(f"Committed {result.commit[:12]}; plan and apply register it.")
    for warning in result.warnings:
        out.add(f"warning: {warning}", "yellow")
    return out.text()


def train_json(result: TrainResult) -> str:
    return document(result.to_json())
