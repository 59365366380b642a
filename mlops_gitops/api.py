"""The library's entry points, used by the CLI and by anyone scripting the tool."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_gitops.errors import Problem, SpecError
from mlops_gitops.spec.loader import Repository, load_repository
from mlops_gitops.spec.validate import cross_check

if TYPE_CHECKING:
    from mlops_gitops.compile.manifest import Manifest


@dataclass(frozen=True)
class ValidationResult:
    repository: Repository
    problems: list[Problem]

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
    return ValidationResult(repository, [unique[k] for k in sorted(unique)])


def load(repo: Path | str = ".") -> Repository:
    """A repository that validated cleanly; raises SpecError with every problem otherwise."""
    result = validate(repo)
    if not result.valid:
        raise SpecError(result.problems)
    return result.repository


def compile_manifest(repo: Path | str = ".") -> Manifest:
    from mlops_gitops.compile.manifest import build

    return build(load(repo))


def write_manifest(repo: Path | str, out_dir: Path) -> Path:
    """Write `manifest.json` atomically into out_dir."""
    from mlops_gitops.util import atomic_write

    manifest = compile_manifest(repo)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "manifest.json"
    atomic_write(path, manifest.dumps().encode())
    return path


def export_schemas(out_dir: Path) -> list[Path]:
    from mlops_gitops.spec.schema import export

    return export(out_dir)
