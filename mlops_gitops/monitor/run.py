"""`monitor`: prediction logs -> window summary -> metrics, drift, comparison -> report -> commit.

Per deployment: compare the log files with the watermarks in the recorded state; when nothing
is new (and the settings and labels are unchanged), stop without reading a record. Otherwise
read the logs batch by batch into mergeable summaries (:mod:`.summary`, :mod:`.window`), here or
on a Dask cluster (:mod:`.engine`), compute the numbers, write `reports/<d>/latest.{json,md}` and
SVG charts, and commit them. The window is computed from the logs every time it is needed, so
a fresh clone gives the same report as the machine that wrote it, and no cache is trusted.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mlops_gitops import fsguard, git, progress
from mlops_gitops.errors import MlopsError
from mlops_gitops.monitor import engine, numbers, output, output_drift, quality
from mlops_gitops.monitor.drift import DriftReport, compute_drift, resolve_method
from mlops_gitops.monitor.labels import read_labels
from mlops_gitops.monitor.objects import (
    RemoteObject,
    digest_lines,
    list_objects,
    window_days,
)
from mlops_gitops.monitor.objects import plan_reads as remote_reads
from mlops_gitops.monitor.prepare import SummaryPlan
from mlops_gitops.monitor.profile import ReferenceProfile
from mlops_gitops.monitor.readers import (
    Malformed,
    Partition,
    Watermark,
    has_news,
    list_log_files,
    new_result,
    plan_reads,
    rebuild,
)
from mlops_gitops.monitor.records import FUTURE_SKEW_SECONDS
from mlops_gitops.monitor.references import References, stale_work_tree_caches
from mlops_gitops.monitor.summary import WindowSummary
from mlops_gitops.monitor.window import Policy
from mlops_gitops.report_model import MonitoringReport, parse_report
from mlops_gitops.safeio import dumps, read_json
from mlops_gitops.spec import locations
from mlops_gitops.spec import models as spec_models
from mlops_gitops.workspace import Workspace

STATE_SCHEMA_VERSION = 1
SCHEDULER_ENV = "MLOPS_GITOPS_DASK_SCHEDULER"


@dataclass
class MonitorOutcome:
    deployment: str
    changed: bool
    reason: str
    report: MonitoringReport | None = None
    files: list[str] = field(default_factory=list)
    commit: str | None = None
    new_records: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "changed": self.changed,
            "reason": self.reason,
            "new_records": self.new_records,
            "files": self.files,
            "commit": self.commit,
            "report": f"{self.files[0]}" if self.files else None,
            "warnings": self.warnings,
        }


def summary_plan(
    spec: spec_models.DeploymentSpec,
    profiles: list[ReferenceProfile],
    labels: dict[str, Any],
    task: str,
    stable: ReferenceProfile | None = None,
) -> SummaryPlan:
    """What the readers must keep, from every reference profile a report compares against;
    data quality is judged against the stable version's."""
    numeric: dict[str, list[tuple[float, ...]]] = {}
    categorical: set[str] = set()
    quantiles: set[str] = set()
    for profile in profiles:
        for name, feature in profile.features.items():
            if feature.kind == "categorical":
                categorical.add(name)
                continue
            edges = numeric.setdefault(name, [])
            if tuple(feature.edges) not in edges:
                edges.append(tuple(feature.edges))
            if resolve_method(feature, spec.monitoring.drift)[0] in ("ks", "wasserstein"):
                quantiles.add(name)
    if stable is not None:  # the outputs, against the stable reference only
        for name, feature in stable.outputs.items():
            if feature.kind == "categorical":
                categorical.add(name)
            else:
                numeric[name] = [tuple(feature.edges)]
                quantiles.add(name)
    return SummaryPlan(
        numeric=numeric,
        categorical=frozenset(categorical),
        quantiles=frozenset(quantiles),
        task=task,
        labels=labels,
        exact_max_records=spec.monitoring.exact_max_records,
        ranges=quality.bounds(stable, spec.monitoring.range_tolerance) if stable else {},
        calibration=stable.calibration if stable and task == "classification" else None,
    )


class Monitor:
    def __init__(self, workspace: Workspace, now: datetime) -> None:
        self.ws = workspace
        self.now = now
        self.root = workspace.root
        self.state_dir = workspace.project.state_dir
        self.reports_dir = workspace.project.reports_dir
        self.references = References(self.root, self.state_dir, workspace.project.security)

    def _state_path(self, name: str) -> Path:
        return self.root / self.state_dir / "monitor" / f"{name}.json"

    def _load_state(self, name: str) -> dict[str, Any]:
        path = self._state_path(name)
        if not path.exists():
            return {}
        try:
            data = read_json(path)
        except (OSError, ValueError):
            return {}  # the window is rebuilt from the logs: a lost watermark costs a re-read
        return data if isinstance(data, dict) else {}

    def _profiles(
        self, model: spec_models.Model, spec: spec_models.DeploymentSpec
    ) -> dict[str, ReferenceProfile]:
        """Profiles by version. A broken reference of a version the deployment does not serve
        only costs that version its drift numbers."""
        serving = {spec.version, spec.canary.version if spec.canary else spec.version}
        out: dict[str, ReferenceProfile] = {}
        for version in model.spec.versions:
            try:
                profile = self.references.profile(version.reference_data)
            except MlopsError:
                if version.version in serving:
                    raise
                continue
            if profile is not None:
                out[version.version] = profile
        return out

    def _engine(self, parts: list[Partition], job: engine.Job) -> Any:
        settings = self.ws.project.monitoring
        address = os.environ.get(SCHEDULER_ENV) or settings.dask_scheduler
        if settings.engine == "dask":
            if not address:
                raise MlopsError("monitoring.engine is dask but no dask_scheduler is set")
            return engine.run_dask(address, parts, job)
        return engine.run_local(parts, job)

    def run(self, name: str, deployment: spec_models.Deployment, commit: bool) -> MonitorOutcome:
        spec = deployment.spec
        if not spec.monitoring.predictions:
            return MonitorOutcome(name, False, "no monitoring.predictions in the spec")
        model = self.ws.manifest.models[spec.model]
        state = self._load_state(name)
        location = spec.monitoring.predictions
        remote = locations.is_remote(location)
        objects = self._objects(spec) if remote else []
        files = [] if remote else list_log_files(location, self.root)
        if not state and not files and not objects:
            where = spec.monitoring.predictions
            return MonitorOutcome(name, False, f"no prediction logs at {where} yet")
        # Only what changes the numbers: monitoring settings and the versions' references.
        # A traffic or canary edit alone waits for new data, so the tool's own spec commits
        # never make monitor commit again (no CI loop).
        judged = [
            spec.monitoring.model_dump(mode="json"),
            model.spec.task,
            sorted((v.version, v.reference_data or "") for v in model.spec.versions),
        ]
        digest = hashlib.sha256(dumps(judged, sort_keys=True).encode()).hexdigest()
        labels_digest = self._labels_digest(spec.monitoring.labels)
        previous = [Watermark.from_json(w) for w in state.get("watermarks", [])]
        result = new_result()
        if remote:
            events = spec.monitoring.logger_url is not None
            parts = remote_reads(objects, previous, result, events)
        else:
            parts = plan_reads(files, self.root, previous, result)
        report_rel = f"{self.reports_dir}/{name}/latest.json"
        if (
            not any(has_news(p) for p in parts)
            and state.get("settings_digest") == digest
            and state.get("labels_digest") == labels_digest
            and (self.root / report_rel).exists()
        ):
            return MonitorOutcome(name, False, "no new records")
        with progress.task(f"monitor {name}: reading", unit="records"):
            return self._compute(
                name,
                spec,
                model,
                [rebuild(p) for p in parts],
                result,
                commit,
                (digest, labels_digest),
            )

    def _objects(self, spec: spec_models.DeploymentSpec) -> list[RemoteObject]:
        """The log objects, pruned to the days a duration window overlaps (Hive `date=`)."""
        assert spec.monitoring.predictions is not None
        window = spec.monitoring.window
        days = None
        if window.duration is not None:
            now = self.now.timestamp()
            days = window_days(now - window.duration.total_seconds(), now + FUTURE_SKEW_SECONDS)
        security = self.ws.project.security
        return list_objects(spec.monitoring.predictions, security, days)

    def _labels_digest(self, location: str | None) -> str | None:
        if location is None or not locations.is_remote(location):
            return _files_digest(location, self.root)
        digest = hashlib.sha256()
        for line in digest_lines(list_objects(location, self.ws.project.security)):
            digest.update(line)
        return digest.hexdigest()

    def _compute(
        self,
        name: str,
        spec: spec_models.DeploymentSpec,
        model: spec_models.Model,
        parts: list[Partition],
        result: Any,
        commit: bool,
        digests: tuple[str, str | None],
    ) -> MonitorOutcome:
        bad_labels = Malformed()
        labels = read_labels(
            spec.monitoring.labels, self.root, bad_labels, self.ws.project.security
        )
        profiles = self._profiles(model, spec)
        stable = profiles.get(spec.version)
        plan = summary_plan(spec, list(profiles.values()), labels, model.spec.task, stable)
        window = spec.monitoring.window
        now = self.now.timestamp()
        if window.duration is not None:
            policy = Policy(start=now - window.duration.total_seconds(), end=now)
        else:
            policy = Policy(records=window.records)
        job = engine.Job(plan, policy, now + FUTURE_SKEW_SECONDS)
        summary, reads = self._engine(parts, job)
        malformed = Malformed()
        for read in reads:
            malformed.merge(read.malformed)
        new = sum(read.new_records for read in reads)
        watermarks = [w.to_json() for w in result.watermarks + [r.watermark for r in reads]]
        versions = numbers.versions(summary, model.spec.task, spec)
        total = _total(summary, plan)
        drift = _drifts(summary, total, versions, profiles, stable, spec.monitoring.drift)
        generated = self.now.isoformat(timespec="seconds")
        content = output.report(
            name, spec, generated, summary, versions, drift, malformed, result.events
        )
        content["data_quality"] |= quality.section(
            total, stable, summary.records, spec.monitoring.range_tolerance
        )
        content["outputs"] = output.clean(
            output_drift.section(total, stable, spec.monitoring.drift)
        )
        if spec.monitoring.labels:
            content["data_quality"]["malformed_labels"] = {
                "count": bad_labels.count,
                "examples": bad_labels.examples,
            }
        report = parse_report(content, f"{self.reports_dir}/{name}/latest.json")
        folder = self.root / self.reports_dir / name
        files = output.write(
            self.root, folder, f"{self.reports_dir}/{name}", report, drift, stable, summary, total
        )
        state_out = {
            "schema_version": STATE_SCHEMA_VERSION,
            "deployment": name,
            "watermarks": watermarks,
            "settings_digest": digests[0],
            "labels_digest": digests[1],
            "last_run": generated,
            "window_records": summary.records,
        }
        fsguard.write(self.root, self._state_path(name), output.json_bytes(state_out))
        outcome = MonitorOutcome(name, True, f"{new} new records", report, files, new_records=new)
        if commit and git.is_repo(self.root):
            paths = [
                f"{self.reports_dir}/{name}",
                f"{self.state_dir}/monitor/{name}.json",
                f"{self.state_dir}/profiles",
            ]
            existing = [p for p in paths if (self.root / p).exists()]
            outcome.commit = git.commit(
                self.root,
                existing,
                output.message(name, report, new),
                self.ws.project.git.author,
            )
        return outcome


def _drifts(
    summary: WindowSummary,
    total: Any,
    versions: dict[str, Any],
    profiles: dict[str, ReferenceProfile],
    stable: ReferenceProfile | None,
    settings: spec_models.DriftSettings,
) -> DriftReport | None:
    """The window's drift against the stable reference; each version's against its own
    (written into `versions`)."""
    present = summary.features()
    drift = compute_drift(stable, numbers.current(total, present), settings) if stable else None
    for version, entry in versions.items():
        version_profile = profiles.get(version)
        if version_profile is None:
            continue
        vs = summary.versions[version]
        same = stable is not None and version_profile.sha256 == stable.sha256
        if same and drift is not None and vs.records == total.records:
            found: DriftReport = drift  # the same data against the same reference
        else:
            found = compute_drift(version_profile, numbers.current(vs, present), settings)
        entry["drift"] = {
            "dataset_drift": found.dataset_drift,
            "share_drifted": found.share_drifted,
            "drifted_features": sorted(k for k, v in found.features.items() if v.drifted),
        }
    return drift


def _total(summary: WindowSummary, plan: SummaryPlan) -> Any:
    """The window as one version (all records against the stable reference)."""
    if len(summary.versions) == 1:
        return next(iter(summary.versions.values()))
    from mlops_gitops.monitor.summary import VersionSummary

    total = VersionSummary()
    for version in summary.versions.values():
        total.merge(version, plan)
    return total


def _files_digest(location: str | None, root: Path) -> str | None:
    """The content of the label files: new ground truth is news even without new predictions."""
    if not location:
        return None
    digest = hashlib.sha256()
    for path in list_log_files(location, root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def monitor(
    workspace: Workspace, now: datetime, deployment: str | None = None, commit: bool = True
) -> list[MonitorOutcome]:
    runner = Monitor(workspace, now)
    names = sorted(workspace.manifest.deployments)
    if deployment is not None:
        if deployment not in workspace.manifest.deployments:
            raise MlopsError(f"deployment {deployment!r} is not defined in the specs")
        names = [deployment]
    warnings = stale_work_tree_caches(workspace.root)
    outcomes = [runner.run(name, workspace.manifest.deployments[name], commit) for name in names]
    for outcome in outcomes:
        outcome.warnings = list(warnings)
    return outcomes
