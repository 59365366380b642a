"""The CLI's contract: exit codes, output formats, errors without tracebacks, import budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_gitops import api
from tests.support.cli import run_cli, run_process
from tests.support.corpus import build_case
from tests.support.repos import EXAMPLE_REPO

ERROR_KEYS = {"path", "line", "column", "kind", "name", "field", "message"}

# ---------------------------------------------------------------- validate


def test_validate_example_repo() -> None:
    run = run_cli("--repo", str(EXAMPLE_REPO), "validate")
    assert run.code == 0, run.seen
    assert run.out.startswith("Valid: ")
    assert run.err == ""


def test_validate_json_shape() -> None:
    run = run_cli("--repo", str(EXAMPLE_REPO), "validate", "--format", "json")
    assert run.code == 0
    payload = json.loads(run.out)
    assert payload["format_version"] == "1"
    assert payload["valid"] is True
    assert payload["errors"] == []


def test_validate_json_shape_of_errors(tmp_path: Path) -> None:
    repo = build_case("bad-enum", tmp_path)
    run = run_cli("--repo", str(repo), "validate", "--format", "json")
    assert run.code == 1
    payload = json.loads(run.out)
    assert {"format_version", "valid", "errors"} <= set(payload)
    assert payload["format_version"] == "1"
    assert payload["valid"] is False
    [error] = payload["errors"]
    assert set(error) == ERROR_KEYS
    assert error == {
        "path": "deployments/fraud-prod.yaml",
        "line": 7,
        "column": 3,
        "kind": "Deployment",
        "name": "fraud-prod",
        "field": "spec.stage",
        "message": error["message"],
    }


def test_validate_github_annotations(tmp_path: Path) -> None:
    repo = build_case("bad-cron", tmp_path)
    run = run_cli("--repo", str(repo), "validate", "--format", "github")
    assert run.code == 1
    assert run.out.splitlines() == [
        "::error file=rules/fraud-drift.yaml,line=11,col=7,"
        "title=Rule/fraud-drift%3A spec.triggers[1].cron::"
        "'0 25 * * 1' is not a valid cron expression"
    ]


def test_github_annotation_keeps_multi_line_messages_on_one_line(tmp_path: Path) -> None:
    repo = build_case("duplicate-key", tmp_path)
    run = run_cli("--repo", str(repo), "validate", "--format", "github")
    [line] = run.out.splitlines()
    assert line.startswith("::error file=deployments/fraud-prod.yaml,line=13,col=3::")
    assert "%0A" in line


def test_validate_reads_the_current_folder_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = build_case("bad-enum", tmp_path)
    monkeypatch.chdir(repo)
    run = run_cli("validate")
    assert run.code == 1
    assert run.out.startswith("deployments/fraud-prod.yaml:7:3: ")


@pytest.mark.slow
def test_output_is_plain_when_not_a_terminal(tmp_path: Path) -> None:
    repo = build_case("bad-enum", tmp_path)
    done = run_process("--repo", repo, "validate", env={"NO_COLOR": ""}, expect=1)
    assert "\033[" not in done.seen


# ---------------------------------------------------------------- import budget

WRAPPER = """
import sys
from mlops_gitops import cli
try:
    code = cli.main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print("MODULES:" + " ".join(sorted(sys.modules)))
sys.exit(code)
"""
HEAVY = ("numpy", "pandas", "scipy")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--repo", str(EXAMPLE_REPO), "validate"], 0),
        (["--repo", str(EXAMPLE_REPO), "validate", "--format", "json"], 0),
        (["--help"], 0),
        (["validate", "--help"], 0),
    ],
    ids=["validate", "validate-json", "help", "validate-help"],
)
def test_no_heavy_imports(args: list[str], code: int) -> None:
    done = run_process(*args, script=WRAPPER, expect=code)
    [line] = [x for x in done.out.splitlines() if x.startswith("MODULES:")]
    modules = line.removeprefix("MODULES:").split()
    assert "mlops_gitops.cli" in modules  # the probe saw the real run
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == []


@pytest.mark.slow
def test_python_dash_m_runs_the_cli() -> None:
    done = run_process("--repo", EXAMPLE_REPO, "validate", expect=0)
    assert done.out.startswith("Valid: ")


# ---------------------------------------------------------------- errors and exit codes


def _boom(*_args: object, **_kwargs: object) -> object:
    raise RuntimeError("boom")


def test_internal_error_is_one_line_and_exit_4(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "validate", _boom)
    run = run_cli("--repo", str(EXAMPLE_REPO), "validate")
    assert run.code == 4
    assert run.out == ""
    [line] = run.err.splitlines()
    assert line.startswith("internal error: RuntimeError: boom")
    assert "--traceback" in line
    assert "Traceback" not in run.err


def test_internal_error_with_traceback_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "validate", _boom)
    run = run_cli("--traceback", "--repo", str(EXAMPLE_REPO), "validate")
    assert run.code == 4
    assert "Traceback (most recent call last)" in run.err
    assert "RuntimeError: boom" in run.err
    assert run.err.rstrip().splitlines()[-1].startswith("internal error: RuntimeError: boom")


def test_user_error_is_exit_1_without_traceback(tmp_path: Path) -> None:
    run = run_cli("--repo", str(tmp_path), "validate")
    assert run.code == 1
    assert run.err.startswith(f"error: mlops.yaml not found in {tmp_path.resolve()}\nhint: ")
    assert "Traceback" not in run.seen


def test_user_error_shows_a_traceback_only_when_asked(tmp_path: Path) -> None:
    run = run_cli("--traceback", "--repo", str(tmp_path), "validate")
    assert run.code == 1
    assert "Traceback (most recent call last)" in run.err


@pytest.mark.slow
def test_invalid_specs_as_a_process_exit_1_without_traceback(tmp_path: Path) -> None:
    repo = build_case("recursive-alias", tmp_path)
    done = run_process("--repo", repo, "validate", expect=1)
    assert "Traceback" not in done.seen
    assert done.out.startswith("models/loop.yaml:5:7: recursive alias")


def test_bad_arguments_exit_1() -> None:
    done = run_cli("validate", "--format", "xml")
    assert done.code == 1
    assert "invalid choice: 'xml'" in done.err
