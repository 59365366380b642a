"""Validation of a whole repository: loading plus cross-object checks, all problems at once.

The layers after `spec` open repositories through here (or `Workspace.load`), never through
the library's top-level `api` module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlops_gitops.errors import Problem, SpecError
from mlops_gitops.spec.loader import load_repository
from mlops_gitops.spec.repository import Repository
from mlops_gitops.spec.validate import cautions, cross_check


@dataclass(frozen=True)
class ValidationResult:
    repository: Repository
    problems: list[Problem]
    warnings: list[Problem] = field(default_factory=list)
    """Valid, but will not work as written (see `spec.validate.cautions`)."""

    @property
    def valid(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        from collections import Counter

        counted = Counter(kind for kind, _ in self.repository.objects)
        if self.repository.project is not None:
            counted["Project"] += 1
        return dict(sorted(counted.items()))


def validate(repo: Path | str = ".") -> ValidationResult:
    """Load every spec file and check it; collects all problems instead of stopping."""
    repository = load_repository(repo)
    problems = list(repository.problems)
    if repository.project is None and not problems:
        problems.append(Problem("mlops.yaml holds no valid Project", path="mlops.yaml"))
    problems.extend(cross_check(repository))
    unique = {(p.sort_key(), p.kind, p.name): p for p in problems}
    found = [unique[k] for k in sorted(unique)]
    warned = sorted(cautions(repository), key=Problem.sort_key) if not found else []
    return ValidationResult(repository, found, warned)


def load(repo: Path | str = ".") -> Repository:
    """A repository that validated cleanly; raises SpecError with every problem otherwise."""
    result = validate(repo)
    if not result.valid:
        raise SpecError(result.problems)
    return result.repository
