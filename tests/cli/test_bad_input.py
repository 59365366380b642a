"""Bad arguments and inputs end in one `error:` line and exit 1, never a traceback or exit 4."""

from __future__ import annotations

import pytest

from tests.support.cli import run_cli
from tests.support.git import init_git
from tests.support.repos import EXAMPLE_REPO, copy_repo

# {repo}: a committed copy of the example repository; {tmp}: a scratch folder holding
# `afile` (a plain file) and `plan.txt` (not JSON).
BAD_INPUTS = [
    ["--repo", "{tmp}/nonexistent", "validate"],
    ["--repo", "{tmp}/nonexistent", "status"],
    ["--repo", "{tmp}/afile", "validate"],
    ["--repo", "{tmp}/afile", "plan"],
    ["--repo", "{repo}", "apply", "{tmp}/plan.txt", "--no-commit"],
    ["--repo", "{repo}", "apply", "{tmp}/missing.json", "--no-commit"],
    ["--repo", "{repo}", "apply", "{tmp}", "--no-commit"],
    ["--repo", "{repo}", "plan", "--now", "garbage"],
    ["--repo", "{repo}", "apply", "--now", "garbage", "--no-commit"],
    ["--repo", "{repo}", "monitor", "--now", "garbage", "--no-commit"],
    ["--repo", "{repo}", "report", "history", "nope", "--metric", "x"],
    ["--repo", "{repo}", "train", "nope", "--no-commit"],
    ["--repo", "{repo}", "rollback", "nope"],
    ["--repo", "{repo}", "monitor", "--deployment", "nope", "--no-commit"],
    ["--repo", "{repo}", "compile", "-o", "/proc/x"],
    ["--repo", "{repo}", "compile", "-o", "{tmp}/afile"],
    ["--repo", "{repo}", "plan", "-o", "/proc/x"],
    ["schema", "export", "/proc/x"],
    ["--repo", "{repo}", "force-unlock", "abc"],
]


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("bad-inputs")
    repo = copy_repo(EXAMPLE_REPO, tmp / "repo", data=False)
    init_git(repo, "init")
    (tmp / "afile").write_text("x\n")
    (tmp / "plan.txt").write_text("not json\n")
    return {"repo": str(repo), "tmp": str(tmp)}


@pytest.mark.parametrize("argv", BAD_INPUTS, ids=[" ".join(a) for a in BAD_INPUTS])
def test_bad_input_is_a_one_line_error_and_exit_1(argv: list[str], places: dict[str, str]) -> None:
    run = run_cli(*(arg.format(**places) for arg in argv))
    assert run.code == 1, run.seen
    assert "Traceback" not in run.seen
    assert "internal error" not in run.seen
    assert any(line.startswith("error: ") for line in run.err.splitlines()), run.seen


@pytest.mark.parametrize("port", ["99999", "-5", "http"])
def test_serve_refuses_a_port_out_of_range(port: str) -> None:
    done = run_cli("serve", "--port", port, expect=1)
    assert "--port" in done.err
