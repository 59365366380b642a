"""The corpus of broken repositories (tests/spec/corpus): a valid base and cases that each
overlay one defect on it."""

from __future__ import annotations

from pathlib import Path

from mlops_gitops.spec.files import MAX_FILE_BYTES
from tests.support.repos import copy_repo

CORPUS = Path(__file__).resolve().parents[1] / "spec" / "corpus"
CORPUS_BASE = CORPUS / "base"
CORPUS_CASES = CORPUS / "cases"
CASES = sorted(p.name for p in CORPUS_CASES.iterdir() if p.is_dir())

NOT_A_REPOSITORY = {"missing-mlops-yaml"}
"""Cases where validate stops before reading specs: an `error:` line, no JSON document."""

# Directives in a case's `repo/` overlay, as suffixes of a file name:
DELETE = ".delete"
"""`<path>.delete`: remove <path> from the copy of the base repository."""
OVERSIZE = ".oversize"
"""`<path>.oversize`: write <path> with this content, padded past the size limit with comments."""
SYMLINK_OUTSIDE = ".symlink-outside"
"""`<path>.symlink-outside`: <path> becomes a symlink to a file outside the repository holding
this content (made at test time: symlinks are not committed)."""


def build_case(case: str, tmp_path: Path) -> Path:
    """The base repository with the case's overlay applied, in tmp_path/repo."""
    repo = copy_repo(CORPUS_BASE, tmp_path / "repo")
    outside = tmp_path / "outside"
    overlay = CORPUS_CASES / case / "repo"
    for source in sorted(p for p in overlay.rglob("*") if p.is_file()):
        rel = source.relative_to(overlay).as_posix()
        if rel.endswith(DELETE):
            (repo / rel.removesuffix(DELETE)).unlink()
        elif rel.endswith(OVERSIZE):
            target = repo / rel.removesuffix(OVERSIZE)
            target.parent.mkdir(parents=True, exist_ok=True)
            data = source.read_bytes()
            padding = b"# padding to exceed the size limit\n"
            count = (MAX_FILE_BYTES - len(data)) // len(padding) + 1
            target.write_bytes(data + padding * count)
        elif rel.endswith(SYMLINK_OUTSIDE):
            link = repo / rel.removesuffix(SYMLINK_OUTSIDE)
            real = outside / link.name
            real.parent.mkdir(parents=True, exist_ok=True)
            real.write_bytes(source.read_bytes())
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(real)
        else:
            target = repo / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    return repo
