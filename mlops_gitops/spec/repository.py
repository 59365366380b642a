"""What the loader makes of a repository: typed objects with the place of every value.

Also the objects an unreadable file was meant to hold, so references to them are not reported
as missing on top of the file's own error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_gitops.errors import Problem
from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.yamlsource import Document

Prefetched = tuple[bytes, str]
"""A file's bytes and their sha256."""


@dataclass(frozen=True)
class Source:
    """Where an object came from, with the position of every value."""

    path: str
    doc: Document

    def locate(self, path: tuple[str | int, ...]) -> tuple[int | None, int | None]:
        pos = self.doc.position(path)
        if pos is None and not path:
            return 1, 1  # an empty document: the file as a whole, from its start
        return (pos.line, pos.column) if pos else (None, None)


@dataclass(frozen=True)
class Loaded:
    obj: spec_models.SpecObject
    source: Source


@dataclass
class Repository:
    """Everything read from a repository, valid or not."""

    root: Path
    project: Loaded | None = None
    objects: dict[tuple[str, str], Loaded] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    """Relative path -> sha256 of every file read, for the manifest's content hash."""
    problems: list[Problem] = field(default_factory=list)
    broken: set[tuple[str, str]] = field(default_factory=set)
    """Objects that exist but failed their own checks; references to them are not errors."""

    def of_kind(self, kind: str) -> list[Loaded]:
        names = sorted(name for k, name in self.objects if k == kind)
        return [self.objects[(kind, name)] for name in names]

    def get(self, kind: str, name: str) -> Loaded | None:
        return self.objects.get((kind, name))


_KIND_LINE = re.compile(r"^kind:[ \t]*[\"']?([A-Za-z]+)", re.MULTILINE)


_NAME_LINE = re.compile(
    r"^metadata:[ \t]*(?:\{[^}\n]*?\bname:"
    r"|\n(?:[ \t]*#.*\n|[ \t]*\n|[ \t]+[^\s#].*\n)*?[ \t]+name:)"
    r"[ \t]*[\"']?([a-z0-9][a-z0-9-]{0,62})[\"']?[ \t]*(?:[,}#]|$)",
    re.MULTILINE,
)


def mark_broken(repo: Repository, text: str) -> None:
    """Remember which object an unreadable file was meant to hold, found by a plain text scan.

    A file that is not even YAML still says `kind:` and `metadata: name:` on their own lines;
    references to that object are then not reported as missing on top of the file's own error.
    """
    name = _NAME_LINE.search(text)
    if name is None:
        return
    kind = _KIND_LINE.search(text)
    mark_name_broken(repo, kind.group(1) if kind else None, name.group(1))


def mark_name_broken(repo: Repository, kind: Any, name: str) -> None:
    """Without a known kind, we cannot tell which kind was meant: every kind is spared."""
    kinds = (
        [kind] if isinstance(kind, str) and kind in spec_models.KINDS else list(spec_models.KINDS)
    )
    repo.broken.update((k, name) for k in kinds)
