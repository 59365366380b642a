"""What the plan needs to know about artifacts: where they are, that they hold what their
format says, their hash and size, and the security scan's verdict (the workspace hands these
to the planner as its facts).

Many versions may name one file, and a file may keep its content across runs, so work is
done once per content: a file is read once per run (its stat data the key), its content
checked once per (sha256, format), and scanned once per verdict key; a verdict recorded in
state for the same key is reused. Distinct contents are scanned in parallel (`scan_many`).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from mlops_gitops.errors import MlopsError
from mlops_gitops.facts import ArtifactFact
from mlops_gitops.providers import formats
from mlops_gitops.providers.artifacts import hash_file
from mlops_gitops.providers.scan import (
    ScanJob,
    ScanVerdict,
    codeless_verdict,
    remember,
    scan_many,
    trusted_types,
    verdict_key,
)
from mlops_gitops.spec import locations
from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.cache import HashCache, now_ns
from mlops_gitops.state.records import VersionRecord

Key = tuple[str, str]
"""(model, version)."""


class Inspector:
    def __init__(
        self, root: Path, security: spec_models.SecuritySettings, hashes: HashCache
    ) -> None:
        self.root = root
        self.security = security
        self.hashes = hashes
        self.inside = locations.Inside(root)
        self.files: dict[tuple[str, tuple[int, ...]], tuple[str, int]] = {}
        """(path, stat data) -> (sha256, size) of files read in this run."""
        self.content: dict[tuple[str, str], str | None] = {}
        """(sha256, format) -> why the content is not that format, or None."""
        self.jobs: list[tuple[Key, ScanJob]] = []
        self.done: dict[tuple[str, str, tuple[str, ...]], tuple[ArtifactFact, ScanJob | None, bool]]
        self.done = {}
        """(location, format, trusted types) -> what `_artifact` found: versions that name
        the same file share the work and the fact."""

    def inspect(
        self,
        key: Key,
        spec: spec_models.ModelVersion,
        expected: set[str],
        recorded: VersionRecord | None = None,
    ) -> ArtifactFact:
        """Hash and check one version's artifact; its scan is queued for `finish`."""
        fmt = spec.format
        trusted = trusted_types(spec) if fmt == "skops" else ()
        seen = (spec.artifact, fmt, trusted)
        done = self.done.get(seen)
        if done is None or (expected and done[0].sha256 not in expected and done[2]):
            done = self.done[seen] = self._artifact(spec.artifact, fmt, trusted, expected)
        fact, job, _ = done
        if job is not None:
            scan = (
                recorded.scan if recorded is not None and recorded.sha256 == fact.sha256 else None
            )
            if scan is not None and scan.key == job.key:
                found = tuple(scan.findings)
                verdict = ScanVerdict(scan.scanner, scan.scanner_version, scan.verdict, found)
                remember(job.key, verdict)
            self.jobs.append((key, job))
        return fact

    def _artifact(
        self, location: str, fmt: str, trusted: tuple[str, ...], expected: set[str]
    ) -> tuple[ArtifactFact, ScanJob | None, bool]:
        """The fact, the scan to run, and whether the hash came from the hash cache."""
        problem = locations.problem(location, self.security)
        if problem is not None:
            return _unreadable(location, problem), None, False
        if locations.is_remote(location):
            try:
                sha, size = hash_file(location, self.root, self.security)
            except (OSError, MlopsError) as exc:
                return _unreadable(location, exc), None, False
            return ArtifactFact(exists=True, sha256=sha, size=size), None, False
        cached = [False]
        local = self._local(location, fmt, expected, cached)
        if isinstance(local, ArtifactFact):
            return local, None, False
        path, sha, size = local
        job = ScanJob(verdict_key(sha, fmt, trusted), path, fmt, trusted)
        codeless = codeless_verdict(fmt)
        if codeless is not None:  # the content check `_local` ran is the whole scan
            remember(job.key, codeless, scanned=True)
        return ArtifactFact(exists=True, sha256=sha, size=size), job, cached[0]

    def _local(
        self, location: str, fmt: str, expected: set[str], cached: list[bool]
    ) -> ArtifactFact | tuple[str, str, int]:
        """(path, sha256, size) of a local artifact, or the fact that blocks it."""
        file_uri = locations.scheme(location) == "file"
        path = urlsplit(location).path if file_uri else _under(self.root, location)
        try:
            info = os.stat(path)
        except (OSError, ValueError):
            return ArtifactFact(exists=False, error=f"artifact {location} not found")
        if not stat.S_ISREG(info.st_mode):
            return ArtifactFact(exists=False, error=f"artifact {location} not found")
        real = None if file_uri else self.inside.escapes(location)
        if real is not None:
            return ArtifactFact(
                exists=False,
                error=f"artifact {location} cannot be read: it leads outside the repository"
                f" ({real}); refusing to read it",
            )
        stamp = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        known = self.files.get((path, stamp))
        sha = known[0] if known else self.hashes.get(location, info)
        if sha is not None and expected and sha not in expected:
            sha = None  # the cache must not be the reason a step is blocked: read the file
        size = info.st_size
        cached[0] = sha is not None and known is None
        if sha is None:
            read = self._read(path, location, fmt, info)
            if isinstance(read, ArtifactFact):
                return read
            sha, size = read
        if (sha, fmt) not in self.content:
            self.content[(sha, fmt)] = self._check(path, fmt)
        wrong = self.content[(sha, fmt)]
        if wrong is not None:
            return _refused(location, wrong)
        self.files[(path, stamp)] = (sha, size)
        return path, sha, size

    def _read(
        self, path: str, location: str, fmt: str, info: os.stat_result
    ) -> ArtifactFact | tuple[str, int]:
        """Check the content, then hash it: a file that is not its format is never hashed."""
        started = now_ns()
        try:
            with locations.open_regular(os.path.realpath(path)) as handle:
                wrong = formats.mismatch(handle, fmt, os.fstat(handle.fileno()).st_size)
                if wrong is not None:
                    return ArtifactFact(
                        exists=True, error=f"artifact {location} is refused: {wrong}"
                    )
                sha = hashlib.file_digest(handle, "sha256").hexdigest()
                size = handle.tell()
        except (OSError, MlopsError) as exc:
            return _unreadable(location, exc)
        self.content[(sha, fmt)] = None
        if size == info.st_size:
            self.hashes.put(location, info, sha, started)
        return sha, size

    def _check(self, path: str, fmt: str) -> str | None:
        try:
            with locations.open_regular(os.path.realpath(path)) as handle:
                return formats.mismatch(handle, fmt, os.fstat(handle.fileno()).st_size)
        except (OSError, MlopsError) as exc:
            return f"cannot be read: {exc}"

    def finish(self, facts: dict[Key, ArtifactFact]) -> None:
        """Scan what was queued (each distinct key once) and add the verdicts to `facts`."""
        verdicts = scan_many(job for _, job in self.jobs)
        judged: dict[tuple[int, str], ArtifactFact] = {}
        for key, job in self.jobs:
            fact = facts[key]
            found = judged.get((id(fact), job.key))
            if found is None:
                verdict = verdicts[job.key]
                found = replace(
                    fact,
                    scan_verdict=verdict.verdict,
                    scan_findings=verdict.findings,
                    scanner=verdict.scanner,
                )
                judged[(id(fact), job.key)] = found
            facts[key] = found


def _unreadable(location: str, why: object) -> ArtifactFact:
    return ArtifactFact(exists=False, error=f"artifact {location} cannot be read: {why}")


def _refused(location: str, why: str) -> ArtifactFact:
    """The file is there but is not what its format says: blocked, never hashed."""
    return ArtifactFact(exists=True, error=f"artifact {location} is refused: {why}")


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
