"""A repository opened for planning and applying: specs, recorded state, stores and git."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_gitops import git
from mlops_gitops.compile.manifest import Manifest, build
from mlops_gitops.errors import MlopsError
from mlops_gitops.net import NetError
from mlops_gitops.plan import planner
from mlops_gitops.plan.gates import Observations, Observed
from mlops_gitops.plan.model import Plan
from mlops_gitops.plan.planner import (
    ArtifactFact,
    PlanInputs,
    needs_facts,
    plan,
    remember_digest,
    version_digest,
)
from mlops_gitops.providers.artifacts import ArtifactStore, hash_file, local_artifact_path
from mlops_gitops.providers.scan import scan
from mlops_gitops.spec import models as m
from mlops_gitops.spec.cache import DerivedCache, HashCache, now_ns
from mlops_gitops.spec.loader import Repository
from mlops_gitops.state.store import StateStore
from mlops_gitops.state.view import StateView
from mlops_gitops.urls import redact_url

LOCK_FILE = ".mlops/apply.lock"
DIGEST_FILE = "version-digests.json"
_DIGEST_SOURCES = (
    Path(m.__file__),
    Path(m.__file__).with_name("types.py"),
    Path(planner.__file__),
)
"""The code that decides a version's digest: typed spec objects and the digest itself."""
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

    @classmethod
    def load(cls, repo: Path | str) -> Workspace:
        """Validate and compile a repository; raises SpecError with every problem."""
        from mlops_gitops.spec.check import load

        return cls.open(load(repo))

    @property
    def project(self) -> m.ProjectSpec:
        return self.manifest.project.spec

    @property
    def state_store(self) -> StateStore:
        return StateStore(self.root / self.project.state_dir)

    @property
    def artifact_store(self) -> ArtifactStore:
        return ArtifactStore(
            self.project.artifact_store,
            self.root,
            allow_private=self.project.security.allow_private_webhooks,
        )

    def tombstones(self) -> frozenset[str]:
        return frozenset(
            name for name, obj in self.manifest.tombstones.items() if obj.spec.kind == "Deployment"
        )

    def facts(self, state: StateView) -> dict[tuple[str, str], ArtifactFact]:
        """Hash and scan the artifacts the plan needs to judge; everything else is recorded.

        Hashes of unchanged local files come from the hash cache, unless the cached hash
        contradicts the one the spec pins or the state recorded: then the file is read.
        """
        out = {}
        hashes = HashCache.open(self.root)
        inside = _Inside(self.root)
        enabled = gc.isenabled()
        gc.disable()  # many small acyclic objects: cycle collections only cost time
        try:
            digests, recalled = self._recall_digests()
            for model, version, spec in needs_facts(self.manifest, state):
                record = state.models.get(model)
                recorded = record.versions.get(version) if record else None
                expected = {spec.sha256, recorded.sha256 if recorded else None} - {None}
                out[(model, version)] = self._inspect(spec, hashes, expected, inside)
            self._keep_digests(digests, recalled)
        finally:
            if enabled:
                gc.enable()
        hashes.save()
        return out

    def _model_keys(self) -> list[tuple[m.Model, str]]:
        """Models with the content key of their file (templates have none here)."""
        out = []
        for name, model in self.manifest.models.items():
            source = self.manifest.sources.get(f"Model/{name}", "")
            key = self.repository.inputs.get(source)
            if key is not None and not source.endswith(".j2"):
                out.append((model, key))
        return out

    def _recall_digests(self) -> tuple[DerivedCache, set[str]]:
        """Version digests of model files read before: hashing 20,000 versions costs more
        than the rest of an unchanged plan. Keyed by file content and by the code involved.
        Returns the cache and the keys whose digests it knew."""
        cache = DerivedCache.open(self.root, DIGEST_FILE, _DIGEST_SOURCES)
        recalled = set()
        for model, key in self._model_keys():
            known = cache.get(key)
            versions = model.spec.versions
            if not isinstance(known, list) or len(known) != len(versions):
                continue
            pairs = [(v, entry) for v, entry in zip(versions, known, strict=True)]
            if all(
                isinstance(entry, list)
                and len(entry) == 2
                and entry[0] == v.version
                and isinstance(entry[1], str)
                for v, entry in pairs
            ):
                for version, entry in pairs:
                    remember_digest(version, entry[1])
                recalled.add(key)
        return cache, recalled

    def _keep_digests(self, cache: DerivedCache, recalled: set[str]) -> None:
        for model, key in self._model_keys():
            if key not in recalled:
                cache.put(key, [[v.version, version_digest(v)] for v in model.spec.versions])
        cache.save()

    def _inspect(
        self,
        spec: m.ModelVersion,
        hashes: HashCache | None = None,
        expected: set[str | None] | None = None,
        inside: _Inside | None = None,
    ) -> ArtifactFact:
        location = spec.artifact
        shown = redact_url(location)
        local = None if "://" in location and not location.startswith("file://") else location
        if local is not None:
            path = _under(self.root, local.removeprefix("file://"))
            try:
                info: os.stat_result | None = os.lstat(path)
                link = info is not None and stat.S_ISLNK(info.st_mode)
                if link:
                    info = os.stat(path)
            except (OSError, ValueError):
                info = None
            if info is None or not stat.S_ISREG(info.st_mode):
                return ArtifactFact(exists=False, error=f"artifact {shown} not found")
            if inside is None or not inside.contains(path, link):
                try:  # the rule and its message live with the artifact store
                    local_artifact_path(location, self.root)
                except MlopsError as exc:
                    return ArtifactFact(
                        exists=False, error=f"artifact {shown} cannot be read: {_reason(exc)}"
                    )
            sha = hashes.get(local, info) if hashes is not None else None
            if sha is not None and expected and sha not in expected:
                sha = None  # the cache must not be the reason a step is blocked: read the file
            size = info.st_size
            if sha is None:
                started = now_ns()
                try:
                    with open(path, "rb") as handle:
                        sha = hashlib.file_digest(handle, "sha256").hexdigest()
                        size = handle.tell()
                except OSError as exc:
                    return ArtifactFact(
                        exists=False, error=f"artifact {shown} cannot be read: {_reason(exc)}"
                    )
                if hashes is not None and size == info.st_size:
                    hashes.put(local, info, sha, started)
        else:
            try:
                sha, size = hash_file(
                    location,
                    self.root,
                    allow_private=self.project.security.allow_private_webhooks,
                )
            except (OSError, MlopsError) as exc:
                return ArtifactFact(
                    exists=False, error=f"artifact {shown} cannot be read: {_reason(exc)}"
                )
        verdict = None
        if local is not None:
            verdict = scan(Path(path), spec.format, spec.trusted_types)
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
        try:  # one listing instead of a failed lookup per deployment without reports
            reported = set(os.listdir(self.root / self.project.reports_dir))
        except OSError:
            reported = set()
        for name, deployment in sorted(self.manifest.deployments.items()):
            if name not in reported:
                continue
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


class _Inside:
    """Whether a path's real location is inside the repository, answered with one `lstat`
    per directory for a whole plan (`Path.resolve` costs one per path component, each time).

    Only a quick yes: a path it cannot vouch for goes to `local_artifact_path`, which decides.
    """

    def __init__(self, root: Path) -> None:
        self.top = str(root.resolve())
        self.dirs: dict[str, str] = {self.top: self.top}
        """Directory -> its real path."""

    def contains(self, path: str, link: bool) -> bool:
        """`link`: whether `path` itself is a symlink (the caller has just looked)."""
        real = self._real(path, link)
        return real == self.top or real.startswith(self.top + os.sep)

    def _real(self, path: str, link: bool) -> str:
        parent, sep, name = path.rpartition(os.sep)
        if link or not sep or not parent or name in ("", ".", ".."):
            return os.path.realpath(path)
        return self._dir(parent).rstrip(os.sep) + os.sep + name

    def _dir(self, path: str) -> str:
        found = self.dirs.get(path)
        if found is None:
            try:
                link = stat.S_ISLNK(os.lstat(path).st_mode)
            except OSError:
                link = True  # let realpath decide
            found = self.dirs[path] = self._real(path, link)
        return found


def _under(root: Path, rel: str) -> str:
    """`str(root / rel)`, without pathlib's cost for the plain relative paths specs hold."""
    if (
        os.sep == "/"
        and rel
        and not rel.startswith("/")
        and not rel.endswith("/")
        and "//" not in rel
        and "/./" not in f"/{rel}/"
    ):
        return f"{root}/{rel}"
    return str(root / rel)


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


def _reason(exc: Exception) -> str:
    """An error's reason without the location it names again (a failed download's does)."""
    return exc.reason if isinstance(exc, NetError) else str(exc)
