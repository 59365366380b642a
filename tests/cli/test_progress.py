"""Progress lines: on a terminal's stderr only, never in a pipe, with --quiet or --format json."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from mlops_gitops import progress
from mlops_gitops.cli.base import Output, warnings_shown
from mlops_gitops.errors import MlopsWarning
from tests.automate.helpers import write_traffic
from tests.support.cli import require_slow
from tests.support.values import NOW

pytestmark = pytest.mark.slow  # each test starts the CLI in a fresh interpreter

CLEAR = "\r\x1b[2K"


def run_on_tty(repo: Path, *args: str) -> tuple[int, str, str]:
    """The CLI with stderr on a pseudo-terminal (as in an interactive shell), stdout a pipe."""
    require_slow("starts a process")
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlops_gitops", "--repo", str(repo), *args],
        stdout=subprocess.PIPE,
        stderr=slave,
        env=dict(os.environ),
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    code = proc.wait(timeout=120)
    os.close(master)
    return code, out, seen.decode(errors="replace")


def run_piped(repo: Path, *args: str) -> tuple[int, str, str]:
    require_slow("starts a process")
    done = subprocess.run(
        [sys.executable, "-m", "mlops_gitops", "--repo", str(repo), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def example(loop_example: Path) -> Path:
    return loop_example


def test_apply_draws_progress_on_a_terminal_and_clears_it(
    example: Path,
) -> None:
    repo = example
    code, out, err = run_on_tty(repo, "apply", "--now", NOW, "--no-commit")
    assert code == 0, err
    assert f"{CLEAR}apply: steps: 0/" in err
    assert "checking artifacts: " in err
    last = err.rsplit(CLEAR, 1)[1]
    assert "apply: steps" not in last and "checking artifacts" not in last  # the line is cleared
    assert "\r" not in out


@pytest.mark.parametrize(
    "extra", [("--quiet",), ("--format", "json"), ("-q",)], ids=["quiet", "json", "q"]
)
def test_no_progress_with_quiet_or_json(example: Path, extra: tuple[str, ...]) -> None:
    repo = example
    code, _, err = run_on_tty(repo, "apply", "--now", NOW, "--no-commit", *extra)
    assert code == 0, err
    assert "\r" not in err and "apply: steps" not in err


def test_no_progress_in_a_pipe(example: Path) -> None:
    repo = example
    code, out, err = run_piped(repo, "apply", "--now", NOW, "--no-commit")
    assert code == 0, err
    assert "\r" not in err + out and "apply: steps" not in err


def test_monitor_counts_the_records_it_reads(example: Path) -> None:
    repo = example
    write_traffic(repo, {"1.1.0": 1.0}, 3000)
    code, out, err = run_on_tty(
        repo, "monitor", "--deployment", "cancer-prod", "--no-commit", "--now", NOW
    )
    assert code == 0, err
    assert f"{CLEAR}monitor cancer-prod: reading: " in err
    assert "records" in err
    assert "\r" not in out


def test_quiet_after_the_command_silences_warnings(example: Path) -> None:
    repo = example
    (repo / ".mlops/cache").mkdir(parents=True)  # monitor warns about a work-tree cache folder
    write_traffic(repo, {"1.1.0": 1.0}, 50)
    args = ("monitor", "--deployment", "cancer-prod", "--no-commit", "--now", NOW)
    _, _, loud = run_piped(repo, *args)
    assert "warning:" in loud
    code, _, quiet = run_piped(repo, *args, "--quiet")
    assert code == 0 and "warning:" not in quiet


def test_a_warning_during_a_task_starts_its_own_line() -> None:
    """The progress line is cleared first, not written after (tested on a plain stream)."""
    stream = io.StringIO()
    with (
        warnings_shown(Output(stream, color=False)),
        progress.shown_on(stream),
        progress.task("steps", 2) as steps,
    ):
        warnings.warn("careful", MlopsWarning, stacklevel=1)
        steps.advance()
    lines = stream.getvalue().split("\n")
    assert lines[0].endswith("\r\033[2Kwarning: careful")  # cleared, then the warning
