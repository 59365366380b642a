"""A repository opened for planning and applying: specs, recorded state, stores and git."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mlops_gitops import git, progress
from mlops_gitops.compile.manifest import Manifest, build
from mlops_gitops.errors import MlopsError
from mlops_gitops.facts import ArtifactFact
from mlops_gitops.gcpause import collector_paused
from mlops_gitops.net import NetError
from mlops_gitops.plan import digests as plan_digests
from mlops_gitops.plan.digests import VersionDigests
from mlops_gitops.plan.draft import PlanInputs
from mlops_gitops.plan.gates import Observations, Observed
from mlops_gitops.plan.model import Plan
from mlops_gitops.plan.planner import plan
from mlops_gitops.plan.versions import needs_facts
from mlops_gitops.providers.artifacts import ArtifactStore
from mlops_gitops.providers.facts import Inspector
from mlops_gitops.report_model import MonitoringReport, ReportError, VersionReport, read_report
from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.cache import DerivedCache, HashCache
from mlops_gitops.spec.kinds import model as model_kind
from mlops_gitops.spec.repository import Repository
from mlops_gitops.spec.signed import Signature, deployment_key, version_key
from mlops_gitops.spec.signing import read_signers, verify
from mlops_gitops.spec.types import is_uri
from mlops_gitops.state import chain
from mlops_gitops.state.store import StateStore
from mlops_gitops.state.view import StateView

LOCK_FILE = ".mlops/apply.lock"
DIGEST_FILE = "version-digests.json"
_DIGEST_SOURCES = (
    Path(model_kind.__file__),
    Path(model_kind.__file__).with_name("common.py"),
    Path(spec_models.__file__).with_name("base.py"),
    Path(spec_models.__file__).with_name("types.py"),
    Path(plan_digests.__file__),
)
"""The code that decides a version's digest: typed spec objects and the digest itself."""
JOURNAL_FILE = ".mlops/journal.jsonl"
MAX_PATHSPECS = 1000
"""More paths than this are not passed to git one by one (argument lists have a limit)."""
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
    at_commit: str | None = None
    """The commit read when the files are a snapshot of one (`--at`), not the work tree."""
    store_root: Path | None = None
    """Where the artifact store is found when `root` is such a snapshot: the repository."""

    @classmethod
    def open(cls, repository: Repository) -> Workspace:
        return cls(repository.root, repository, build(repository))

    @classmethod
    def load(cls, repo: Path | str) -> Workspace:
        """Validate and compile a repository; raises SpecError with every problem."""
        from mlops_gitops.spec.check import load

        return cls.open(load(repo))

    @property
    def project(self) -> spec_models.ProjectSpec:
        return self.manifest.project.spec

    @property
    def state_store(self) -> StateStore:
        return StateStore(self.root / self.project.state_dir, self.root)

    @property
    def artifact_store(self) -> ArtifactStore:
        root = self.store_root or self.root
        return ArtifactStore(self.project.artifact_store, root, self.project.security)

    def tombstones(self) -> frozenset[str]:
        return frozenset(
            name for name, obj in self.manifest.tombstones.items() if obj.spec.kind == "Deployment"
        )

    def facts(
        self, state: StateView, digests: VersionDigests | None = None
    ) -> dict[tuple[str, str], ArtifactFact]:
        """Hash, check and scan the artifacts the plan needs to judge; the rest is recorded.

        Hashes of unchanged local files come from the hash cache, unless the cached hash
        contradicts the one the spec pins or the state recorded: then the file is read.
        """
        found = {}
        hashes = HashCache.open(self.root)
        inspector = Inspector(self.root, self.project.security, hashes)
        with collector_paused():
            digests = VersionDigests() if digests is None else digests
            cache, recalled = self._recall_digests(digests)
            needed = list(needs_facts(self.manifest, state, digests))
            for model, version, spec in progress.each(needed, "checking artifacts"):
                record = state.models.get(model)
                recorded = record.versions.get(version) if record else None
                expected = {spec.sha256, recorded.sha256 if recorded else None} - {None}
                found[(model, version)] = inspector.inspect(
                    (model, version), spec, {e for e in expected if e}, recorded
                )
            self._keep_digests(cache, recalled, digests)
        inspector.finish(found)
        hashes.save()
        return found

    def _model_keys(self) -> list[tuple[spec_models.Model, str]]:
        """Models with the content key of their file (templates have none here)."""
        out = []
        for name, model in self.manifest.models.items():
            source = self.manifest.sources.get(f"Model/{name}", "")
            key = self.repository.inputs.get(source)
            if key is not None and not source.endswith(".j2"):
                out.append((model, key))
        return out

    def _recall_digests(self, digests: VersionDigests) -> tuple[DerivedCache, set[str]]:
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
                    digests.remember(model.metadata.name, version.version, entry[1])
                recalled.add(key)
        return cache, recalled

    def _keep_digests(
        self, cache: DerivedCache, recalled: set[str], digests: VersionDigests
    ) -> None:
        if cache.where is None:  # caching is off: computing digests to keep would be waste
            return
        for model, key in self._model_keys():
            if key not in recalled:
                name = model.metadata.name
                cache.put(key, [[v.version, digests.of(name, v)] for v in model.spec.versions])
        cache.save()

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
            try:
                report = read_report(self.root / rel, rel)
            except ReportError:
                continue  # a gate without its observation is not met: nothing promotes on it
            if report is None:
                continue
            for version, numbers in report.versions.items():
                found = out.setdefault((deployment.spec.model, version), {})
                for metric, value in observed_numbers(numbers, report).items():
                    found[metric] = Observed(value, rel)
        self._live_gates(out)
        return out

    def _live_gates(self, out: dict[tuple[str, str], dict[str, Observed]]) -> None:
        """Gates named `prometheus:<query>`: asked now, for the versions each deployment gates.

        A query that gives no number leaves the gate without a value, so it fails closed.
        """
        from mlops_gitops.providers import prometheus

        production = [k for k in self.project.policies.production_gates if k.startswith(PROM)]
        for name, deployment in sorted(self.manifest.deployments.items()):
            spec = deployment.spec
            keys = [k for k in spec.promotion.gates if k.startswith(PROM)]
            keys += production if spec.stage == "production" else []
            canary = spec.canary.version if spec.canary else None
            for key in dict.fromkeys(keys):
                query = prometheus.fill(key[len(PROM) :].strip(), name, spec.version, canary)
                answer = prometheus.instant(self.project, query)
                if answer.value is None:
                    continue
                seen = Observed(answer.value, f"prometheus: {query[:120]}")
                for version in filter(None, (spec.version, canary)):
                    out.setdefault((spec.model, version), {})[key] = seen

    def signatures(self) -> dict[str, Signature]:
        """`require_signed_commits`: the commits behind each covered deployment's spec file
        and the versions it serves, verified (see `spec.signing`)."""
        rule = self.project.policies.require_signed_commits
        if rule is None:
            return {}
        wanted: dict[str, tuple[str | None, str | None]] = {}
        for name, deployment in sorted(self.manifest.deployments.items()):
            spec = deployment.spec
            if spec.stage not in rule.stages:
                continue
            wanted[deployment_key(name)] = (self.manifest.sources.get(f"Deployment/{name}"), None)
            model_file = self.manifest.sources.get(f"Model/{spec.model}")
            for version in [spec.version] + ([spec.canary.version] if spec.canary else []):
                wanted[version_key(spec.model, version)] = (model_file, version)
        git_root = self.store_root or self.root
        commit = self.at_commit or git.head(git_root)
        signers: bytes | str
        try:
            signers = read_signers(rule.allowed_signers, self.root)
        except MlopsError as exc:
            signers = exc.message
        files = sorted({path for path, _ in wanted.values() if path})
        dirty = frozenset() if self.at_commit or commit is None else git.changed(git_root, files)
        return verify(git_root, commit, signers, wanted, frozenset(dirty))

    def read_paths(self) -> list[str]:
        """What planning and applying read from the repository: the Project, the spec
        folders, and the local artifacts and reference data the versions name."""
        paths = {"mlops.yaml", *(posixpath.normpath(d) for d in self.project.spec_dirs)}
        for model in self.manifest.models.values():
            for version in model.spec.versions:
                for location in (version.artifact, version.reference_data):
                    if location and not is_uri(location) and _inside(location):
                        paths.add(posixpath.normpath(location))
        return sorted(paths)

    def dirty(self) -> list[str]:
        """Files planning reads that differ from HEAD (staged or not) or are untracked;
        [] outside git."""
        if git.head(self.root) is None:
            return []
        paths = self.read_paths()
        if len(paths) <= MAX_PATHSPECS:
            return git.changed(self.root, paths)
        # Too many to name: ask about their top folders. Untracked files are listed only
        # below the folders read whole (the spec folders, folder artifacts); a read file
        # elsewhere is untracked when the index does not hold it. Listing every untracked
        # file below an artifacts tree of thousands of folders is what this avoids.
        wanted = set(paths)
        top = str(self.root)  # os.path over 20,000 artifact paths: no Path object for each
        whole = sorted(p for p in paths if p == "mlops.yaml" or os.path.isdir(f"{top}/{p}"))
        if len(whole) > MAX_PATHSPECS:
            whole = sorted({path.split("/", 1)[0] for path in whole})
        tops = sorted({path.split("/", 1)[0] for path in paths})
        listed = git.changed(self.root, whole) + git.changed(self.root, tops, untracked=False)
        found = {name for name in listed if any(part in wanted for part in _prefixes(name))}
        known = git.tracked(self.root, tops)
        found.update(
            path
            for path in paths
            if path not in known and path not in whole and os.path.lexists(f"{top}/{path}")
        )
        return sorted(found)

    def plan(self, now: datetime) -> Plan:
        state = self.state_store.load()
        chain.check(self.root, self.project.state_dir, state)
        digests = VersionDigests()  # shared by the facts and the plan, for this plan only
        return plan(
            PlanInputs(
                manifest=self.manifest,
                state=state,
                now=now,
                facts=self.facts(state, digests),
                observations=self.observations(),
                base_commit=self.at_commit or git.head(self.root),
                tombstones=self.tombstones(),
                signatures=self.signatures(),
                digests=digests,
            )
        )

    def limit(self, full: Plan, targets: Sequence[str]) -> Plan:
        """`--target`: the plan cut to the named objects and their dependencies."""
        if not targets:
            return full
        from mlops_gitops.plan import targets as targeting

        state = self.state_store.load()
        known = {
            "Deployment": [*self.manifest.deployments, *state.deployments],
            "Model": [*self.manifest.models, *state.models],
        }
        return targeting.restrict(full, targeting.parse(targets, known))


PROM = "prometheus:"


def _prefixes(name: str) -> list[str]:
    """`a/b/c` -> `a`, `a/b`, `a/b/c`: a file is read when it or a folder above it is."""
    parts = name.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _inside(location: str) -> bool:
    """A relative path that stays in the repository (files outside it are no part of git)."""
    if os.sep == "/":  # the same answer without two Paths for each of 20,000 artifacts
        return not location.startswith("/") and ".." not in location.split("/")
    return not Path(location).is_absolute() and ".." not in Path(location).parts


def observed_numbers(numbers: VersionReport, report: MonitoringReport) -> dict[str, float]:
    """The numbers a gate can name: error_rate, performance metrics, latency, drift share,
    data quality."""
    flat: dict[str, float] = {}
    if numbers.error_rate is not None:
        flat["error_rate"] = numbers.error_rate
    flat.update(numbers.performance.metrics())
    for quantile, value in numbers.latency_ms.quantiles().items():
        flat[f"latency_{quantile}_ms"] = value
    flat["drift_share"] = report.drift.share_drifted
    flat.update(report.data_quality.numbers())
    return flat


def _reason(exc: Exception) -> str:
    """An error's reason without the location it names again (a failed download's does)."""
    return exc.reason if isinstance(exc, NetError) else str(exc)
