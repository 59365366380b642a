"""Running `mlops-gitops`: in this process (fast), or as a process of its own like a user does.

Both give a `Result`. Starting a process costs an interpreter and the tool's imports, so only
tests marked `slow` may do it: `make test-fast` stays fast as tests are added.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops import cli
from tests.support.repos import PROJECT

Arg = str | os.PathLike[str]

current_test: pytest.Item | None = None
"""The test being set up or run (set by the root conftest), to check it is marked slow."""


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def seen(self) -> str:
        """What a user sees on the terminal: stdout, then stderr."""
        return self.out + self.err

    def json(self) -> Any:
        return json.loads(self.out)


def _check(result: Result, expect: int | None) -> Result:
    if expect is not None:
        assert result.code == expect, f"exit {result.code}, wanted {expect}:\n{result.seen}"
    return result


def run_cli(*argv: Arg, expect: int | None = None) -> Result:
    """`mlops-gitops --no-color argv` in this process; with `expect`, assert its exit code.

    An exception escaping `main` fails the test; SystemExit (bad arguments) is the exit code
    the process would have had.
    """
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = cli.main(["--no-color", *_strings(argv)])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return _check(Result(code, out.getvalue(), err.getvalue()), expect)


def require_slow(what: str) -> None:
    """Fail a test that is not marked slow but does something slow (`what`)."""
    if current_test is not None and current_test.get_closest_marker("slow") is None:
        raise AssertionError(f"{current_test.nodeid} {what}: mark it @pytest.mark.slow")


TOOL = Path(sys.executable).with_name("mlops-gitops")


def guard_interpreters(popen_init: Callable[..., None]) -> Callable[..., None]:
    """`subprocess.Popen.__init__` that calls `require_slow` before starting a Python
    interpreter or the tool's entry point, however the test starts it: a process costs an
    interpreter start and the tool's imports, the bulk of a slow test."""

    def init(self: subprocess.Popen[Any], args: Any, *rest: Any, **options: Any) -> None:
        first = args[0] if isinstance(args, (list, tuple)) else args
        if os.fspath(first) in (sys.executable, os.fspath(TOOL)):
            require_slow("starts a Python process")
        popen_init(self, args, *rest, **options)

    return init


def _strings(argv: tuple[Arg, ...]) -> list[str]:
    return [os.fspath(arg) for arg in argv]


def _command(script: str | None) -> list[str]:
    return [sys.executable, "-c", script] if script else [sys.executable, "-m", "mlops_gitops"]


def run_process(
    *argv: Arg,
    expect: int | None = None,
    env: dict[str, str] | None = None,
    cwd: Arg | None = None,
    script: str | None = None,
    timeout: float = 120,
) -> Result:
    """`python -m mlops_gitops argv` in a fresh interpreter (`python -c script argv` with a
    script); `env` is added to this test's environment."""
    done = subprocess.run(
        [*_command(script), *_strings(argv)],
        cwd=cwd or PROJECT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    return _check(Result(done.returncode, done.stdout, done.stderr), expect)


def spawn(*argv: Arg, script: str | None = None, **options: Any) -> subprocess.Popen[str]:
    """Start `python -m mlops_gitops argv` (or a script) without waiting for it; `options` go
    to Popen (output is piped unless they say otherwise)."""
    settings: dict[str, Any] = {
        "stdout": subprocess.PIPE,
        "stderr": subprocess.PIPE,
        "cwd": PROJECT,
    }
    return subprocess.Popen([*_command(script), *_strings(argv)], text=True, **settings | options)


def run_in(repo: Arg, *argv: Arg, expect: int | None = None) -> Result:
    """`run_cli("--repo", repo, *argv)`: the CLI in this process, against one repository."""
    return run_cli("--repo", repo, *argv, expect=expect)
