"""A repository opened for planning and applying: specs, recorded state, stores and git."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_gitops import git
from mlops_gitops.compile.manifest import Manifest, build
from mlops_gitops.errors import MlopsError
from mlops_gitops.plan.gates import Observations, Observed
from mlops_gitops.plan.model import Plan
from mlops_gitops.plan.planner import ArtifactFact, PlanInputs, needs_facts, plan
from mlops_gitops.providers.artifacts import ArtifactStore, hash_file
from mlops_gitops.providers.scan import scan
from mlops_gitops.spec import models as m
from mlops_gitops.spec.loader import Repository
from mlops_gitops.state.store import StateStore, StateView

LOCK_FILE = ".mlops/apply.lock"
JOURNAL_FILE = ".mlops/journal.jsonl"
OBSERVED_METRICS = (
    "error_rate",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "mae",
    "rmse",
    "r2",
)


def parse_now(value: str | None) -> datetime:
    """`--now` accepts ISO 8601; a time without zone is UTC. Default: the clock."""
    if not value:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MlopsError(
            f"--now {value!r} is not an ISO 8601 time such as 2026-03-01T12:00:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class Workspace:
    root: Path
    repository: Repository
    manifest: Manifest

    @classmethod
    def open(cls, repository: Repository) -> Workspace:
        return cls(repository.root, repository, build(repository))

    @property
    def project(self) -> m.ProjectSpec:
        return self.manifest.project.spec

    @property
    def state_store(self) -> StateStore:
        return StateStore(self.root / self.project.state_dir)

    @property
    def artifact_store(self) -> ArtifactStore:
        return ArtifactStore(self.project.artifact_store, self.root)

    def tombstones(self) -> frozenset[str]:
        return frozenset(
            name for name, obj in self.manifest.tombstones.items() if obj.spec.kind == "Deployment"
        )

    def facts(self, state: StateView) -> dict[tuple[str, str], ArtifactFact]:
        """Hash and scan the artifacts the plan needs to judge; everything else is recorded."""
        out = {}
        for model, version, spec in needs_facts(self.manifest, state):
            out[(model, version)] = self._inspect(spec)
        return out

    def _inspect(self, spec: m.ModelVersion) -> ArtifactFact:
        location = spec.artifact
        local = None if "://" in location and not location.startswith("file://") else location
        if local is not None:
            path = self.root / local.removeprefix("file://")
            if not path.is_file():
                return ArtifactFact(exists=False, error=f"artifact {location} not found")
        try:
            sha, size = hash_file(location, self.root)
        except (OSError, MlopsError) as exc:
            return ArtifactFact(exists=False, error=f"artifact {location} cannot be read: {exc}")
        verdict = None
        if local is not None:
            verdict = scan(
                self.root / local.removeprefix("file://"), spec.format, spec.trusted_types
            )
        return ArtifactFact(
            exists=True,
            sha256=sha,
            size=size,
            scan_verdict=verdict.verdict if verdict else None,
            scan_findings=verdict.findings if verdict else (),
            scanner=verdict.scanner if verdict else None,
        )

    def observations(self) -> Observations:
        """Observed metrics per (model, version) from each deployment's latest report."""
        out: dict[tuple[str, str], dict[str, Observed]] = {}
        for name, deployment in sorted(self.manifest.deployments.items()):
            rel = f"{self.project.reports_dir}/{name}/latest.json"
            path = self.root / rel
            if not path.is_file():
                continue
            try:
                report = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            for version, numbers in (report.get("versions") or {}).items():
                found = out.setdefault((deployment.spec.model, version), {})
                for metric, value in _flatten_report(numbers, report).items():
                    found[metric] = Observed(value, rel)
        return out

    def plan(self, now: datetime) -> Plan:
        state = self.state_store.load()
        return plan(
            PlanInputs(
                manifest=self.manifest,
                state=state,
                now=now,
                facts=self.facts(state),
                observations=self.observations(),
                base_commit=git.head(self.root),
                tombstones=self.tombstones(),
            )
        )


def _flatten_report(numbers: dict[str, Any], report: dict[str, Any]) -> dict[str, float]:
    """The numbers a gate can name: error_rate, performance metrics, latency, drift share."""
    flat: dict[str, float] = {}
    if isinstance(numbers.get("error_rate"), int | float):
        flat["error_rate"] = float(numbers["error_rate"])
    for metric, value in (numbers.get("performance") or {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            flat[metric] = float(value)
    for quantile, value in (numbers.get("latency_ms") or {}).items():
        if isinstance(value, int | float):
            flat[f"latency_{quantile}_ms"] = float(value)
    drift = report.get("drift") or {}
    if isinstance(drift.get("share_drifted"), int | float):
        flat["drift_share"] = float(drift["share_drifted"])
    return flat
