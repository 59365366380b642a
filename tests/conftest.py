"""Shared helpers: copies of the example and corpus repositories, and running the CLI in-process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops_gitops import cli
from mlops_gitops.spec.loader import MAX_FILE_BYTES

PROJECT = Path(__file__).resolve().parent.parent
EXAMPLE_REPO = PROJECT / "example-repo"
SCHEMAS = PROJECT / "schemas"
CORPUS = Path(__file__).resolve().parent / "corpus"
CORPUS_BASE = CORPUS / "base"
CORPUS_CASES = CORPUS / "cases"

# Directives in a corpus case's `repo/` overlay, as suffixes of a file name:
DELETE = ".delete"
"""`<path>.delete`: remove <path> from the copy of the base repository."""
OVERSIZE = ".oversize"
"""`<path>.oversize`: write <path> with this content, padded past the size limit with comments."""
SYMLINK_OUTSIDE = ".symlink-outside"
"""`<path>.symlink-outside`: <path> becomes a symlink to a file outside the repository holding
this content (made at test time: symlinks are not committed)."""


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def seen(self) -> str:
        """What a user sees on the terminal: stdout, then stderr."""
        return self.out + self.err


def run_cli(capsys: pytest.CaptureFixture[str], argv: Sequence[str]) -> Run:
    """Run `mlops-gitops argv` in-process; exceptions escaping `main` fail the test."""
    capsys.readouterr()
    code = cli.main(["--no-color", *argv])
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def run_subprocess(
    args: Sequence[str],
    cwd: Path | None = None,
    *,
    code: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python -m mlops_gitops args` in a fresh interpreter, or `python -c code args`."""
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "mlops_gitops"]
    return subprocess.run(
        [*command, *args],
        cwd=cwd or PROJECT,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        text=True,
        capture_output=True,
        check=False,
        timeout=120,
    )


def copy_repo(source: Path, dest: Path) -> Path:
    """A copy of a spec repository without large data files the tests never read."""
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("*.skops", "*.csv", "__pycache__"))
    return dest


def build_case(case: Path, tmp_path: Path) -> Path:
    """The corpus base repository with the case's overlay applied, in tmp_path/repo."""
    repo = copy_repo(CORPUS_BASE, tmp_path / "repo")
    outside = tmp_path / "outside"
    overlay = case / "repo"
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


def normalize(text: str, tmp_path: Path) -> str:
    """Replace the per-run temporary folders so golden files are stable."""
    for real in {str(tmp_path.resolve()), str(tmp_path)}:
        text = text.replace(real + "/repo", "<repo>").replace(real, "<tmp>")
    return text


@pytest.fixture(autouse=True)
def user_cache_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Caches of repositories outside git go to the user's cache directory: a private one."""
    home = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


@pytest.fixture
def example_copy(tmp_path: Path) -> Iterator[Path]:
    """A writable copy of example-repo (artifacts and data left out: validate never reads them)."""
    yield copy_repo(EXAMPLE_REPO, tmp_path / "example")
