"""Shell completion: scripts for bash, zsh and fish, and names read from the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.repos import EXAMPLE_REPO, copy_repo

EXE = Path(sys.executable).parent / "mlops-gitops"


def _complete(line: str, cwd: Path, tmp_path: Path) -> list[str]:
    """What argcomplete answers for `line` (the cursor at its end), as a shell would ask,
    options left out."""
    out = tmp_path / "completions"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_IFS": "\n",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
    }
    done = subprocess.run(
        [str(EXE)], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    offered = (x.strip() for x in out.read_text().split("\n"))
    return sorted(x for x in offered if x and not x.startswith("-"))


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_shell_gets_a_script(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli("completion", shell)
    assert run.code == 0
    assert "mlops-gitops" in run.out and "_ARGCOMPLETE" in run.out
    if shell == "bash":
        assert subprocess.run(["bash", "-n"], input=run.out, text=True).returncode == 0


def test_an_unknown_shell_is_an_error() -> None:
    run = run_cli("completion", "powershell", expect=1)
    assert "invalid choice: 'powershell'" in run.err


@pytest.mark.slow
def test_deployment_names_come_from_the_repository_above(tmp_path: Path) -> None:
    repo = copy_repo(EXAMPLE_REPO, tmp_path / "repo")
    inside = repo / "models"
    assert _complete("mlops-gitops rollback ", inside, tmp_path) == [
        "cancer-prod",
        "cancer-staging",
        "diabetes-prod",
        "diabetes-staging",
    ]
    assert _complete("mlops-gitops rollback canc", inside, tmp_path) == [
        "cancer-prod",
        "cancer-staging",
    ]
    assert _complete("mlops-gitops train ", inside, tmp_path) == ["cancer-train"]
    assert _complete("mlops-gitops history --model ", inside, tmp_path) == [
        "cancer-detector",
        "diabetes-progression",
    ]


@pytest.mark.slow
def test_names_follow_repo_on_the_line(tmp_path: Path) -> None:
    repo = copy_repo(EXAMPLE_REPO, tmp_path / "repo")
    line = f"mlops-gitops --repo {repo} monitor --deployment diab"
    assert _complete(line, tmp_path, tmp_path) == ["diabetes-prod", "diabetes-staging"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@pytest.mark.slow
def test_bash_completes_through_the_script(tmp_path: Path) -> None:
    repo = copy_repo(EXAMPLE_REPO, tmp_path / "repo")
    script = (
        'source <("$EXE" completion bash); COMP_WORDS=(mlops-gitops rollback c); COMP_CWORD=2; '
        'COMP_LINE="mlops-gitops rollback c"; COMP_POINT=${#COMP_LINE}; '
        '_python_argcomplete mlops-gitops; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    env = {**os.environ, "EXE": str(EXE), "PATH": f"{EXE.parent}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-c", script], cwd=repo, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split() == ["cancer-prod", "cancer-staging"], done.stderr
