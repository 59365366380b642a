"""The first commands' contract: exit codes, output formats, stable compile, import budget."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mlops_gitops import api
from tests.conftest import (
    CORPUS_CASES,
    EXAMPLE_REPO,
    build_case,
    copy_repo,
    run_cli,
    run_subprocess,
)

ERROR_KEYS = {"path", "line", "column", "kind", "name", "field", "message"}

# ---------------------------------------------------------------- compile


def _compile(capsys: pytest.CaptureFixture[str], repo: Path, out: Path) -> bytes:
    run = run_cli(capsys, ["--repo", str(repo), "compile", "-o", str(out)])
    assert run.code == 0, run.seen
    return (out / "manifest.json").read_bytes()


def test_compile_is_byte_identical_across_runs_and_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = copy_repo(EXAMPLE_REPO, tmp_path / "a" / "repo")
    second = copy_repo(EXAMPLE_REPO, tmp_path / "elsewhere" / "other-name")
    one = _compile(capsys, first, tmp_path / "out1")
    again = _compile(capsys, first, tmp_path / "out2")
    other = _compile(capsys, second, tmp_path / "out3")
    assert one == again == other
    assert str(tmp_path).encode() not in one


def test_compile_is_byte_identical_across_processes(tmp_path: Path) -> None:
    """Different hash seeds must not reorder anything (sets, dicts built from sets)."""
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / f"out-{seed}"
        done = run_subprocess(
            ["--repo", str(EXAMPLE_REPO), "compile", "-o", str(out)],
            env={"PYTHONHASHSEED": seed},
        )
        assert done.returncode == 0, done.stderr
        outputs.append((out / "manifest.json").read_bytes())
    assert outputs[0] == outputs[1]


def test_manifest_is_versioned_and_hashes_its_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = copy_repo(EXAMPLE_REPO, tmp_path / "repo")
    manifest = json.loads(_compile(capsys, repo, tmp_path / "out"))
    assert manifest["format_version"] == "1"
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["inputs_sha256"])
    assert manifest["sources"]["Deployment/diabetes-prod"] == "deployments/diabetes-prod.yaml.j2"
    assert manifest["deployments"]["cancer-prod"]["resolved"]["traffic"] == {
        "stable": 80,
        "canary": 20,
    }


@pytest.mark.parametrize(
    "rel", ["models/cancer-detector.yaml", "deployments/diabetes-prod.yaml.j2", "mlops.yaml"]
)
def test_inputs_hash_changes_when_a_spec_file_changes(
    rel: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = copy_repo(EXAMPLE_REPO, tmp_path / "repo")
    before = json.loads(_compile(capsys, repo, tmp_path / "out1"))["inputs_sha256"]
    with (repo / rel).open("a", encoding="utf-8") as handle:
        handle.write("# a comment changes no value, but the inputs changed\n")
    after = json.loads(_compile(capsys, repo, tmp_path / "out2"))["inputs_sha256"]
    assert before != after


def test_compile_of_an_invalid_repository_fails_without_a_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = build_case(CORPUS_CASES / "canary-equals-stable", tmp_path)
    run = run_cli(capsys, ["--repo", str(repo), "compile", "-o", str(tmp_path / "out")])
    assert run.code == 1
    assert "deployments/fraud-prod.yaml:10:5: Deployment/fraud-prod" in run.err
    assert "Traceback" not in run.seen
    assert not (tmp_path / "out" / "manifest.json").exists()


# ---------------------------------------------------------------- validate


def test_validate_example_repo(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, ["--repo", str(EXAMPLE_REPO), "validate"])
    assert run.code == 0, run.seen
    assert run.out.startswith("Valid: ")
    assert run.err == ""


def test_validate_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, ["--repo", str(EXAMPLE_REPO), "validate", "--format", "json"])
    assert run.code == 0
    payload = json.loads(run.out)
    assert payload["format_version"] == "1"
    assert payload["valid"] is True
    assert payload["errors"] == []


def test_validate_json_shape_of_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = build_case(CORPUS_CASES / "bad-enum", tmp_path)
    run = run_cli(capsys, ["--repo", str(repo), "validate", "--format", "json"])
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


def test_validate_github_annotations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = build_case(CORPUS_CASES / "bad-cron", tmp_path)
    run = run_cli(capsys, ["--repo", str(repo), "validate", "--format", "github"])
    assert run.code == 1
    assert run.out.splitlines() == [
        "::error file=rules/fraud-drift.yaml,line=11,col=7,"
        "title=Rule/fraud-drift%3A spec.triggers[1].cron::"
        "'0 25 * * 1' is not a valid cron expression"
    ]


def test_github_annotation_keeps_multi_line_messages_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = build_case(CORPUS_CASES / "duplicate-key", tmp_path)
    run = run_cli(capsys, ["--repo", str(repo), "validate", "--format", "github"])
    [line] = run.out.splitlines()
    assert line.startswith("::error file=deployments/fraud-prod.yaml,line=13,col=3::")
    assert "%0A" in line


def test_validate_reads_the_current_folder_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = build_case(CORPUS_CASES / "bad-enum", tmp_path)
    monkeypatch.chdir(repo)
    run = run_cli(capsys, ["validate"])
    assert run.code == 1
    assert run.out.startswith("deployments/fraud-prod.yaml:7:3: ")


def test_output_is_plain_when_not_a_terminal(tmp_path: Path) -> None:
    repo = build_case(CORPUS_CASES / "bad-enum", tmp_path)
    done = run_subprocess(["--repo", str(repo), "validate"], env={"NO_COLOR": ""})
    assert done.returncode == 1
    assert "\033[" not in done.stdout + done.stderr


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
    done = run_subprocess(args, code=WRAPPER)
    assert done.returncode == code, done.stderr
    [line] = [x for x in done.stdout.splitlines() if x.startswith("MODULES:")]
    modules = line.removeprefix("MODULES:").split()
    assert "mlops_gitops.cli" in modules  # the probe saw the real run
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == []


def test_python_dash_m_runs_the_cli() -> None:
    done = run_subprocess(["--repo", str(EXAMPLE_REPO), "validate"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Valid: ")


# ---------------------------------------------------------------- errors and exit codes


def _boom(*_args: object, **_kwargs: object) -> object:
    raise RuntimeError("boom")


def test_internal_error_is_one_line_and_exit_4(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "validate", _boom)
    run = run_cli(capsys, ["--repo", str(EXAMPLE_REPO), "validate"])
    assert run.code == 4
    assert run.out == ""
    [line] = run.err.splitlines()
    assert line.startswith("internal error: RuntimeError: boom")
    assert "--traceback" in line
    assert "Traceback" not in run.err


def test_internal_error_with_traceback_flag(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "validate", _boom)
    run = run_cli(capsys, ["--traceback", "--repo", str(EXAMPLE_REPO), "validate"])
    assert run.code == 4
    assert "Traceback (most recent call last)" in run.err
    assert "RuntimeError: boom" in run.err
    assert run.err.rstrip().splitlines()[-1].startswith("internal error: RuntimeError: boom")


def test_user_error_is_exit_1_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(capsys, ["--repo", str(tmp_path), "validate"])
    assert run.code == 1
    assert run.err.startswith(f"error: mlops.yaml not found in {tmp_path.resolve()}\nhint: ")
    assert "Traceback" not in run.seen


def test_user_error_shows_a_traceback_only_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(capsys, ["--traceback", "--repo", str(tmp_path), "validate"])
    assert run.code == 1
    assert "Traceback (most recent call last)" in run.err


def test_invalid_specs_as_a_process_exit_1_without_traceback(tmp_path: Path) -> None:
    repo = build_case(CORPUS_CASES / "recursive-alias", tmp_path)
    done = run_subprocess(["--repo", str(repo), "validate"])
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stdout.startswith("models/loop.yaml:5:7: recursive alias")


def test_bad_arguments_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = run_cli(capsys, ["validate", "--format", "xml"]).code
    except SystemExit as exc:
        code = int(exc.code or 0)
    assert code == 1
