"""`monitor`: prediction logs -> window -> metrics, drift, comparison -> report files -> commit.

Per deployment: read only new records (watermarks in recorded state), keep the rolling
window in a local cache (rebuilt from the logs on a fresh clone), compute the numbers, write
`reports/<d>/latest.{json,md}` and SVG charts, and commit them. No new data, no commit.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_gitops import git
from mlops_gitops.errors import MlopsError
from mlops_gitops.monitor import charts, metrics
from mlops_gitops.monitor.drift import DriftReport, compute_drift
from mlops_gitops.monitor.profile import ReferenceProfile, build_profile
from mlops_gitops.monitor.readers import (
    FEATURE_PREFIX,
    Malformed,
    Watermark,
    list_log_files,
    new_result,
    read_labels,
    read_new,
)
from mlops_gitops.spec import models as m
from mlops_gitops.spec.types import format_duration
from mlops_gitops.util import atomic_write
from mlops_gitops.workspace import Workspace

REPORT_FORMAT_VERSION = "1"
STATE_SCHEMA_VERSION = 1
CACHE_DIR = ".mlops/cache/monitor"


@dataclass
class MonitorOutcome:
    deployment: str
    changed: bool
    reason: str
    report: dict[str, Any] | None = None
    files: list[str] = field(default_factory=list)
    commit: str | None = None
    new_records: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "changed": self.changed,
            "reason": self.reason,
            "new_records": self.new_records,
            "files": self.files,
            "commit": self.commit,
            "report": f"{self.files[0]}" if self.files else None,
        }


def _json_bytes(data: Any) -> bytes:
    return (
        json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    ).encode()


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Monitor:
    def __init__(self, workspace: Workspace, now: datetime) -> None:
        self.ws = workspace
        self.now = now
        self.root = workspace.root
        self.state_dir = workspace.project.state_dir
        self.reports_dir = workspace.project.reports_dir

    # ------------------------------------------------------------ state and cache

    def _state_path(self, name: str) -> Path:
        return self.root / self.state_dir / "monitor" / f"{name}.json"

    def _load_state(self, name: str) -> dict[str, Any]:
        path = self._state_path(name)
        if not path.exists():
            return {}
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return data

    def _cache_path(self, name: str) -> Path:
        return self.root / CACHE_DIR / f"{name}.pkl"

    def _load_window(self, name: str, state: dict[str, Any]) -> pd.DataFrame | None:
        path = self._cache_path(name)
        meta = path.with_suffix(".json")
        if not (path.exists() and meta.exists()):
            return None
        try:
            if json.loads(meta.read_text()).get("watermarks") != state.get("watermarks"):
                return None  # the cache belongs to another point in the logs
            frame: pd.DataFrame = pd.read_pickle(path)  # our own cache file, never user input
        except Exception:
            return None
        return frame

    def _save_window(
        self, name: str, frame: pd.DataFrame, watermarks: list[dict[str, Any]]
    ) -> None:
        path = self._cache_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        ignore = self.root / ".mlops" / "cache" / ".gitignore"
        if not ignore.exists():  # local and rebuildable: never committed, never in git status
            atomic_write(ignore, b"# written by mlops-gitops monitor: a local cache\n*\n")
        tmp = path.with_suffix(".pkl.tmp")
        frame.to_pickle(tmp)
        tmp.replace(path)
        atomic_write(path.with_suffix(".json"), _json_bytes({"watermarks": watermarks}))

    # ------------------------------------------------------------ window

    def _trim(self, frame: pd.DataFrame, window: m.Window) -> pd.DataFrame:
        """What the cache keeps. Records later than --now stay (they were read already and
        count once the clock passes them); `_view` leaves them out of the numbers."""
        if window.duration is not None:
            start = self.now.timestamp() - window.duration.total_seconds()
            return frame[frame["timestamp"] >= start]
        assert window.records is not None
        if len(frame) <= window.records:
            return frame
        order = np.argsort(frame["timestamp"].to_numpy(), kind="stable")
        return frame.iloc[np.sort(order[-window.records :])]

    def _read(
        self, name: str, spec: m.DeploymentSpec, state: dict[str, Any]
    ) -> tuple[pd.DataFrame, list[Watermark], Malformed, list[str], int]:
        location = spec.monitoring.predictions
        assert location is not None
        previous = [Watermark.from_json(w) for w in state.get("watermarks", [])]
        cached = self._load_window(name, state)
        rebuilt = cached is None
        window = cached if cached is not None else pd.DataFrame()
        # Without a cached window (a fresh clone), rebuild it from the start of the logs.
        marks: list[Watermark] = [] if rebuilt else previous
        files = list_log_files(location, self.root)
        frames = [window] if len(window) else []
        rows = len(window)
        limit = spec.monitoring.window.records
        result = new_result()
        if rebuilt:  # malformed records before the recorded watermarks were reported already
            result.malformed.seen = {w.path: w.line for w in previous}
        for batch in read_new(files, self.root, marks, result):
            frame = batch.frame
            if limit is None:  # a duration window: drop what is outside it right away
                frame = self._trim(frame, spec.monitoring.window)
            frames.append(frame)
            rows += len(frame)
            if limit is not None and rows > 2 * limit:  # bound memory; concat rarely
                frames = [self._trim(_concat(frames), spec.monitoring.window)]
                rows = len(frames[0])
        frame = _concat(frames) if frames else pd.DataFrame()
        frame = self._trim(frame, spec.monitoring.window) if len(frame) else frame
        new = result.new_records
        if rebuilt and previous:
            old = {(w.identity, w.offset) for w in previous}
            new = 0 if {(w.identity, w.offset) for w in result.watermarks} == old else new
        return frame.reset_index(drop=True), result.watermarks, result.malformed, result.events, new

    # ------------------------------------------------------------ references

    def _profile(self, reference: str | None) -> ReferenceProfile | None:
        if not reference or "://" in reference:
            return None
        path = self.root / reference
        if not path.is_file():
            return None
        sha = self._reference_sha(reference, path)
        stored = self.root / self.state_dir / "profiles" / f"{sha}.json"
        if stored.exists():
            try:
                return ReferenceProfile.from_json(json.loads(stored.read_text()))
            except (OSError, ValueError, KeyError, TypeError):
                pass  # rebuilt below
        try:
            frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        except (OSError, ValueError) as exc:  # pandas' and pyarrow's parse errors are ValueErrors
            raise MlopsError(f"reference data {reference} cannot be read: {exc}") from None
        profile = build_profile(frame, sha)
        if not profile.rows or not profile.features:
            raise MlopsError(
                f"reference data {reference} has no rows or no feature columns to measure drift"
                " against (numeric or categorical, besides target)"
            )
        atomic_write(stored, _json_bytes(profile.to_json()))
        return profile

    def _reference_sha(self, reference: str, path: Path) -> str:
        """Hash reference files once per content: a local index keyed by size and mtime."""
        index_path = self.root / ".mlops" / "cache" / "references.json"
        try:
            index = json.loads(index_path.read_text())
        except (OSError, ValueError):
            index = {}
        stat = path.stat()
        key = [stat.st_size, stat.st_mtime_ns]
        entry = index.get(reference)
        if entry and entry.get("key") == key:
            return str(entry["sha256"])
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        index[reference] = {"key": key, "sha256": digest.hexdigest()}
        atomic_write(index_path, _json_bytes(index))
        return digest.hexdigest()

    # ------------------------------------------------------------ numbers

    def _versions(
        self, frame: pd.DataFrame, model: m.Model, spec: m.DeploymentSpec
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if not len(frame):
            return out
        for version, group in frame.groupby("model_version", sort=True, observed=True):
            errors = group["error"].notna()
            entry: dict[str, Any] = {
                "records": len(group),
                "errors": int(errors.sum()),
                "error_rate": float(errors.mean()),
                "latency_ms": metrics.latency(group["latency_ms"].to_numpy(dtype="float64")),
            }
            ok = group[~errors & group["label"].notna() & group["prediction"].notna()]
            if model.spec.task == "classification":
                scores = (
                    ok["score"].to_numpy(dtype="float64") if ok["score"].notna().any() else None
                )
                entry["performance"] = metrics.classification(
                    ok["label"].to_numpy(), ok["prediction"].to_numpy(), scores
                )
            else:
                true = pd.to_numeric(ok["label"], errors="coerce").to_numpy(dtype="float64")
                pred = pd.to_numeric(ok["prediction"], errors="coerce").to_numpy(dtype="float64")
                numeric = np.isfinite(true) & np.isfinite(pred)  # "n/a" labels are not numbers
                entry["performance"] = metrics.regression(true[numeric], pred[numeric])
            role = "stable" if version == spec.version else None
            if spec.canary and version == spec.canary.version:
                role = "canary"
            entry["role"] = role
            out[str(version)] = entry
        return out

    def _features(self, frame: pd.DataFrame) -> dict[str, pd.Series]:
        return {
            column[len(FEATURE_PREFIX) :]: frame[column]
            for column in frame.columns
            if column.startswith(FEATURE_PREFIX)
        }

    def _comparison(self, versions: dict[str, Any], spec: m.DeploymentSpec) -> dict[str, Any]:
        if spec.canary is None:
            return {"available": False, "reason": "no canary in the deployment"}
        stable, canary = versions.get(spec.version), versions.get(spec.canary.version)
        if not stable or not canary:
            return {"available": False, "reason": "no records for the stable or canary version"}
        out: dict[str, Any] = {
            "available": True,
            "stable": spec.version,
            "canary": spec.canary.version,
            "error_rate": metrics.two_proportions(
                canary["errors"], canary["records"], stable["errors"], stable["records"]
            ),
        }
        perf_s, perf_c = stable.get("performance", {}), canary.get("performance", {})
        if "accuracy" in perf_s and "accuracy" in perf_c:
            n_s, n_c = perf_s["labelled"], perf_c["labelled"]
            out["accuracy"] = metrics.two_proportions(
                round(perf_c["accuracy"] * n_c), n_c, round(perf_s["accuracy"] * n_s), n_s
            )
        return out

    # ------------------------------------------------------------ run

    def run(self, name: str, deployment: m.Deployment, commit: bool) -> MonitorOutcome:
        spec = deployment.spec
        if not spec.monitoring.predictions:
            return MonitorOutcome(name, False, "no monitoring.predictions in the spec")
        model = self.ws.manifest.models[spec.model]
        state = self._load_state(name)
        if not state and not list_log_files(spec.monitoring.predictions, self.root):
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
        digest = hashlib.sha256(json.dumps(judged, sort_keys=True).encode()).hexdigest()
        frame, marks, malformed, events, new = self._read(name, spec, state)
        labels_digest = _files_digest(spec.monitoring.labels, self.root)
        report_rel = f"{self.reports_dir}/{name}/latest.json"
        unchanged = (
            new == 0
            and malformed.count == 0
            and state.get("settings_digest") == digest
            and state.get("labels_digest") == labels_digest
            and (self.root / report_rel).exists()
        )
        watermarks = [w.to_json() for w in marks]
        self._save_window(name, frame, watermarks)
        if unchanged:
            return MonitorOutcome(name, False, "no new records")
        if spec.monitoring.window.duration is not None and len(frame):
            frame = frame[frame["timestamp"] <= self.now.timestamp()].reset_index(drop=True)
        bad_labels = Malformed()
        labels = read_labels(spec.monitoring.labels, self.root, bad_labels)
        if labels and len(frame):
            joined = frame["request_id"].map(labels)
            frame["label"] = frame["label"].where(frame["label"].notna(), joined)
        versions = self._versions(frame, model, spec)
        stable = self.ws.manifest.version(spec.model, spec.version)
        profile = self._profile(stable.reference_data if stable else None)
        features = self._features(frame)
        drift = compute_drift(profile, features, spec.monitoring.drift) if profile else None
        for version, entry in versions.items():
            version_spec = self.ws.manifest.version(spec.model, version)
            version_profile = self._profile(version_spec.reference_data if version_spec else None)
            if version_profile is not None:
                same = profile is not None and version_profile.sha256 == profile.sha256
                if same and drift is not None and entry["records"] == len(frame):
                    result = drift  # the same data against the same reference
                else:
                    group = frame[frame["model_version"] == version]
                    result = compute_drift(
                        version_profile, self._features(group), spec.monitoring.drift
                    )
                entry["drift"] = {
                    "dataset_drift": result.dataset_drift,
                    "share_drifted": result.share_drifted,
                    "drifted_features": sorted(k for k, v in result.features.items() if v.drifted),
                }
        report = self._report(name, spec, frame, versions, drift, malformed, events, features)
        if spec.monitoring.labels:
            report["data_quality"]["malformed_labels"] = {
                "count": bad_labels.count,
                "examples": bad_labels.examples,
            }
        files = self._write(name, report, drift, profile, frame)
        state_out = {
            "schema_version": STATE_SCHEMA_VERSION,
            "deployment": name,
            "watermarks": watermarks,
            "settings_digest": digest,
            "labels_digest": labels_digest,
            "last_run": self.now.isoformat(timespec="seconds"),
            "window_records": len(frame),
        }
        atomic_write(self._state_path(name), _json_bytes(state_out))
        outcome = MonitorOutcome(name, True, f"{new} new records", report, files, new_records=new)
        if commit and git.is_repo(self.root):
            paths = [
                f"{self.reports_dir}/{name}",
                f"{self.state_dir}/monitor/{name}.json",
                f"{self.state_dir}/profiles",
            ]
            existing = [p for p in paths if (self.root / p).exists()]
            outcome.commit = git.commit(
                self.root, existing, self._message(name, report, new), self.ws.project.git.author
            )
        return outcome

    def _report(
        self,
        name: str,
        spec: m.DeploymentSpec,
        frame: pd.DataFrame,
        versions: dict[str, Any],
        drift: DriftReport | None,
        malformed: Malformed,
        events: list[str],
        features: dict[str, pd.Series],
    ) -> dict[str, Any]:
        window = spec.monitoring.window
        stamps = frame["timestamp"] if len(frame) else pd.Series(dtype="float64")
        labelled = int(frame["label"].notna().sum()) if len(frame) else 0
        report: dict[str, Any] = {
            "format_version": REPORT_FORMAT_VERSION,
            "deployment": name,
            "model": spec.model,
            "generated_at": self.now.isoformat(timespec="seconds"),
            "window": {
                "start": _iso(stamps.min()) if len(stamps) else None,
                "end": _iso(stamps.max()) if len(stamps) else None,
                "records": len(frame),
                "labelled": labelled,
                "policy": {"records": window.records}
                if window.records
                else {"duration": format_duration(window.duration) if window.duration else None},
            },
            "versions": versions,
            "drift": drift.to_json()
            if drift
            else {
                "policy": None,
                "dataset_drift": False,
                "share_drifted": 0.0,
                "features": {},
                "note": "no reference data for the stable version",
            },
            "comparison": self._comparison(versions, spec),
            "data_quality": {
                "malformed_records": malformed.count,
                "malformed_examples": malformed.examples,
                "missing": {
                    name: float(series.isna().mean())
                    for name, series in sorted(features.items())
                    if len(series)
                },
                "events": events,
            },
        }
        return _clean(report)  # type: ignore[no-any-return]

    def _write(
        self,
        name: str,
        report: dict[str, Any],
        drift: DriftReport | None,
        profile: ReferenceProfile | None,
        frame: pd.DataFrame,
    ) -> list[str]:
        from mlops_gitops.monitor.report import render_markdown

        folder = self.root / self.reports_dir / name
        charts_dir = folder / "charts"
        written = []
        chart_files: dict[str, str] = {}
        service_files: dict[str, str] = {}
        taken = {"charts/latency.svg", "charts/volume.svg"}  # feature charts get other names
        if drift is not None and profile is not None:
            for feature, result in drift.features.items():
                if not result.drifted or feature not in profile.features:
                    continue
                svg = _feature_chart(feature, profile, frame)
                if svg is None:
                    continue
                rel, n = f"charts/{_safe(feature)}.svg", 1
                while rel in taken:  # `a b` and `a_b`, or a feature called `latency`
                    n += 1
                    rel = f"charts/{_safe(feature)}-{n}.svg"
                taken.add(rel)
                atomic_write(folder / rel, svg.encode())
                chart_files[feature] = rel
        service = _service_chart(frame)
        if service:
            atomic_write(charts_dir / "latency.svg", service[0].encode())
            atomic_write(charts_dir / "volume.svg", service[1].encode())
            service_files = {"latency": "charts/latency.svg", "volume": "charts/volume.svg"}
        current = {*chart_files.values(), *service_files.values()}
        if charts_dir.exists():  # drop charts of features that no longer drift
            for old in charts_dir.glob("*.svg"):
                if f"charts/{old.name}" not in current:
                    old.unlink()
        atomic_write(folder / "latest.json", _json_bytes(report))
        markdown = render_markdown(report, chart_files, service_files)
        atomic_write(folder / "latest.md", markdown.encode())
        for rel in ("latest.json", "latest.md", *sorted(current)):
            written.append(f"{self.reports_dir}/{name}/{rel}")
        return written

    def _message(self, name: str, report: dict[str, Any], new: int) -> str:
        drift = report["drift"]
        lines = [f"mlops-gitops: monitor {name}", ""]
        lines.append(
            f"{report['window']['records']} records in the window ({new} new), "
            f"dataset drift {'yes' if drift['dataset_drift'] else 'no'} "
            f"(share {drift['share_drifted']:.2f})."
        )
        lines += ["", f"Mlops-Monitor: {name}", f"Mlops-Records: {report['window']['records']}"]
        lines.append(f"Mlops-New-Records: {new}")
        lines.append(f"Mlops-Drift-Share: {drift['share_drifted']:.4f}")
        lines.append(f"Mlops-Dataset-Drift: {str(drift['dataset_drift']).lower()}")
        for version, entry in sorted(report["versions"].items()):
            lines.append(f"Mlops-Error-Rate: {version}={entry['error_rate']:.4f}")
            accuracy = entry.get("performance", {}).get("accuracy")
            if accuracy is not None:
                lines.append(f"Mlops-Accuracy: {version}={accuracy:.4f}")
        return "\n".join(lines) + "\n"


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate keeping categorical columns categorical (their category sets differ)."""
    if len(frames) == 1:
        return frames[0]
    for column in frames[0].columns:
        if not isinstance(frames[0][column].dtype, pd.CategoricalDtype):
            continue
        parts = [f[column] for f in frames if column in f]
        if all(isinstance(p.dtype, pd.CategoricalDtype) for p in parts):
            union = pd.api.types.union_categoricals(parts, ignore_order=True).categories
            for f in frames:
                if column in f:
                    f[column] = f[column].cat.set_categories(union)
    return pd.concat(frames, ignore_index=True)


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


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(float(seconds), UTC).isoformat(timespec="seconds")


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:80] or "feature"


def _feature_chart(feature: str, profile: ReferenceProfile, frame: pd.DataFrame) -> str | None:
    column = FEATURE_PREFIX + feature
    if column not in frame:
        return None
    values = frame[column].dropna()
    fp = profile.features[feature]
    if fp.kind == "numeric":
        numbers = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype="float64")
        if not len(numbers):
            return None
        edges = np.asarray(fp.edges, dtype="float64")
        counts = np.bincount(
            np.searchsorted(edges, numbers, side="right"), minlength=len(edges) + 1
        )
        current = (counts / counts.sum()).tolist()
        labels = [f"<{edges[0]:.3g}"] + [f"{e:.3g}" for e in edges[1:]] + [f">{edges[-1]:.3g}"]
        labels = labels[: len(current)]
        return charts.bars(f"{feature}: reference vs current", labels, list(fp.shares), current)
    total_ref = sum(fp.categories.values()) or 1
    counts_cur = values.astype(str).value_counts()
    categories = sorted(set(fp.categories) | set(counts_cur.index))[:20]
    total_cur = max(int(counts_cur.sum()), 1)
    return charts.bars(
        f"{feature}: reference vs current",
        categories,
        [fp.categories.get(c, 0) / total_ref for c in categories],
        [int(counts_cur.get(c, 0)) / total_cur for c in categories],
    )


def _service_chart(frame: pd.DataFrame) -> tuple[str, str] | None:
    if len(frame) < 2:
        return None
    stamps = frame["timestamp"].to_numpy(dtype="float64")
    edges = np.linspace(stamps.min(), stamps.max() + 1e-9, 25)
    slot = np.clip(np.searchsorted(edges, stamps, side="right") - 1, 0, 23)
    labels = [_iso(e)[5:16].replace("T", " ") for e in edges[:-1]]
    latency: dict[str, list[float]] = {}
    volume: dict[str, list[float]] = {}
    for version, group in frame.assign(slot=slot).groupby("model_version", observed=True):
        counts = np.bincount(group["slot"], minlength=24)
        volume[str(version)] = counts.astype(float).tolist()
        p95 = group.groupby("slot")["latency_ms"].quantile(0.95)
        latency[str(version)] = [
            float(p95.get(i, 0.0)) if not math.isnan(p95.get(i, 0.0)) else 0.0 for i in range(24)
        ]
    return (
        charts.lines("p95 latency (ms) per version", labels, latency),
        charts.lines("requests per version", labels, volume),
    )


def monitor(
    workspace: Workspace, now: datetime, deployment: str | None = None, commit: bool = True
) -> list[MonitorOutcome]:
    runner = Monitor(workspace, now)
    names = sorted(workspace.manifest.deployments)
    if deployment is not None:
        if deployment not in workspace.manifest.deployments:
            from mlops_gitops.errors import MlopsError

            raise MlopsError(f"deployment {deployment!r} is not defined in the specs")
        names = [deployment]
    return [runner.run(name, workspace.manifest.deployments[name], commit) for name in names]
