"""Hostile spec files are located errors: numbers, durations, dates, nesting, file types.

Each case is a file of the corpus repository rewritten as an attacker would; before these
checks, some were internal errors (exit 4), one hung `validate`, others were accepted (a NaN
metric passes no gate comparison the way its author meant, an infinite threshold blocks or
passes everything).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.corpus import CORPUS_BASE
from tests.support.repos import PROJECT, copy_repo

M = "models/fraud-detector.yaml"
D = "deployments/fraud-prod.yaml"
R = "rules/fraud-drift.yaml"
RT = "retirements/retire-fraud-1-0.yaml"
P = "pipelines/fraud-train.yaml"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return copy_repo(CORPUS_BASE, tmp_path / "repo")


def _edit(repo: Path, rel: str, old: str, new: str) -> None:
    path = repo / rel
    text = path.read_text()
    assert old in text, (old, rel)
    path.write_text(text.replace(old, new, 1))


def _errors(capsys: pytest.CaptureFixture[str], repo: Path) -> list[dict[str, object]]:
    run = run_cli("--repo", repo, "validate", "--format", "json")
    assert run.code == 1, run.seen
    errors: list[dict[str, object]] = json.loads(run.out)["errors"]
    return errors


EDITS = {
    # non-finite numbers, wherever a number goes
    "NaN metric": (M, "{roc_auc: 0.91}", "{roc_auc: .nan}", 12, ".nan is not a finite number"),
    "infinite metric": (M, "{roc_auc: 0.93}", "{roc_auc: .inf}", 17, "not a finite number"),
    "overflowing metric": (M, "{roc_auc: 0.95}", "{roc_auc: 1.0e+999}", 21, "not a finite"),
    "overflowing metric text": (M, "{roc_auc: 0.95}", "{roc_auc: 1e999}", 21, "a finite number"),
    "quoted NaN metric": (M, "{roc_auc: 0.91}", '{roc_auc: "nan"}', 12, "finite number"),
    "infinite threshold": (D, '">= 0.90"', '">= 1e999"', 16, "needs a finite number"),
    "NaN threshold": (D, '">= 0.90"', '">= nan"', 16, "is not a threshold"),
    "NaN in a trigger": (R, "share_above: 0.3", "share_above: .nan", 9, "not a finite number"),
    "NaN in template values": ("mlops.yaml", "region: eu", "region: .NaN", 8, "not a finite"),
    "infinity in hyperparameters": (
        M,
        "      metrics: {roc_auc: 0.91}\n",
        "      metrics: {roc_auc: 0.91}\n      hyperparameters: {c: -.inf}\n",
        13,
        "-.inf is not a finite number",
    ),
    # durations, dates and integers beyond what later arithmetic survives
    "cooldown of 999999999999 days": (
        R,
        "cooldown: 24h",
        "cooldown: 999999999999d",
        14,
        "'999999999999d' is too long; a duration may be at most 36500d",
    ),
    "cooldown of 5000 digits": (
        R,
        "cooldown: 24h",
        f"cooldown: {'9' * 5000}s",
        14,
        "is too long; a duration may be at most 36500d",
    ),
    "min_time_in_stage of 40000 days": (
        "mlops.yaml",
        "min_time_in_stage: 1h",
        "min_time_in_stage: 40000d",
        11,
        "at most 36500d",
    ),
    "window duration of a million weeks": (
        D,
        "window: {records: 500}",
        "window: {duration: 1000000w}",
        19,
        "at most 36500d",
    ),
    "retirement in the year 9999": (
        RT,
        'retirement_date: "2027-03-01"',
        'retirement_date: "9999-12-31"',
        8,
        "year 9999 is out of range; dates must be in 1900-9000",
    ),
    "created in the year 1": (M, 'created: "2026-01-10"', 'created: "0001-01-01"', 13, "year 1"),
    "replicas beyond int32": (
        D,
        "max_replicas: 4}",
        "max_replicas: 100000000000000000000000000000}",
        12,
        "less than or equal to 2147483647",
    ),
    "seed beyond numpy's range": (
        P,
        "  trainer:\n",
        "  split: {seed: 99999999999}\n  trainer:\n",
        None,
        "less than or equal to 4294967295",
    ),
}


@pytest.mark.parametrize("case", EDITS.values(), ids=list(EDITS))
def test_hostile_value_is_a_located_error(
    repo: Path,
    capsys: pytest.CaptureFixture[str],
    case: tuple[str, str, str, int | None, str],
) -> None:
    rel, old, new, line, says = case
    _edit(repo, rel, old, new)
    errors = [e for e in _errors(capsys, repo) if e["path"] == rel]
    assert len(errors) == 1, errors  # a broken mlops.yaml also fails the template using it
    [error] = errors
    assert error["path"] == rel
    if line is not None:
        assert error["line"] == line
    assert says in str(error["message"]), error["message"]


def test_retirement_phase_too_far_before_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = repo / RT
    path.write_text(
        path.read_text() + "  phases:\n    - {name: retirement, days_before: 99999999999}\n"
    )
    [error] = _errors(capsys, repo)
    assert error["field"] == "spec.phases[0].days_before"
    assert "less than or equal to 36500" in str(error["message"])


@pytest.mark.parametrize("depth", [101, 500, 100_000])
@pytest.mark.parametrize("style", ["flow", "block"])
def test_deep_nesting_is_a_located_error(
    repo: Path, capsys: pytest.CaptureFixture[str], depth: int, style: str
) -> None:
    head = "apiVersion: mlops-gitops/v1\nkind: Model\nmetadata: {name: deep}\nspec:\n  values:\n"
    if style == "flow":
        body = "    x: " + "[" * depth + "]" * depth + "\n"
    else:
        levels = min(depth, 900)  # deeper would pass the size limit first
        body = "".join("  " * (i + 2) + "x:\n" for i in range(levels)) + "  y: 1\n"
    (repo / "models" / "deep.yaml").write_text(head + body)
    [error] = _errors(capsys, repo)
    assert error["path"] == "models/deep.yaml"
    assert error["line"] is not None
    assert "nested more than 100 levels deep" in str(error["message"]) or (
        "maximum nesting depth" in str(error["message"])  # libyaml stops at 1000 itself
    )
    assert len(str(error["message"])) < 600  # the excerpt of a huge line is cut


def test_nesting_within_the_budget_is_accepted(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit(
        repo,
        M,
        "      metrics: {roc_auc: 0.91}\n",
        "      metrics: {roc_auc: 0.91}\n"
        "      hyperparameters: {grid: " + "[" * 90 + "]" * 90 + "}\n",
    )
    run = run_cli("--repo", repo, "validate")
    assert run.code == 0, run.seen


# ---------------------------------------------------------------- what a "file" may be


def _validate_in_a_process(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_gitops", "--repo", repo, "validate"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,  # a FIFO used to block here forever
        check=False,
    )


@pytest.mark.slow
def test_fifo_spec_file_is_an_error_not_a_hang(repo: Path) -> None:
    os.mkfifo(repo / "models" / "x.yaml")
    done = _validate_in_a_process(repo)
    assert done.returncode == 1, done.stderr
    assert "models/x.yaml: cannot read file: it is a FIFO (named pipe), not a regular file" in (
        done.stdout
    )


@pytest.mark.slow
def test_fifo_as_the_project_file_is_an_error(repo: Path) -> None:
    (repo / "mlops.yaml").unlink()
    os.mkfifo(repo / "mlops.yaml")
    done = _validate_in_a_process(repo)
    assert done.returncode == 1, done.stderr
    assert "mlops.yaml in" in done.stderr and "is a FIFO (named pipe)" in done.stderr


@pytest.fixture
def unix_socket(repo: Path) -> Iterator[Path]:
    path = repo / "rules" / "sock.yaml"
    if len(str(path)) > 100:
        pytest.skip("path too long for a unix socket")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    yield path
    server.close()


def test_socket_spec_file_is_an_error(
    unix_socket: Path, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    errors = _errors(capsys, repo)
    assert {(e["path"], str(e["message"])) for e in errors} == {
        ("rules/sock.yaml", "cannot read file: it is a socket, not a regular file")
    }


def test_symlink_to_itself_is_an_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "models" / "x.yaml").symlink_to("x.yaml")
    [error] = _errors(capsys, repo)
    assert (error["path"], error["message"]) == (
        "models/x.yaml",
        "cannot read file: a symlink loop",
    )


def test_symlink_loop_is_an_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "rules" / "a.yaml").symlink_to("b.yaml")
    (repo / "rules" / "b.yaml").symlink_to("a.yaml")
    errors = _errors(capsys, repo)
    assert sorted((e["path"], e["message"]) for e in errors) == [
        ("rules/a.yaml", "cannot read file: a symlink loop"),
        ("rules/b.yaml", "cannot read file: a symlink loop"),
    ]


def test_project_file_symlinked_to_itself_is_an_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "mlops.yaml").unlink()
    (repo / "mlops.yaml").symlink_to("mlops.yaml")
    run = run_cli("--repo", repo, "validate")
    assert run.code == 1
    assert "mlops.yaml in" in run.err and "is a symlink loop, not a regular file" in run.err


def test_spec_folder_that_is_a_symlink_loop_is_not_an_internal_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "models" / "loop").symlink_to("loop")
    (repo / "loops").symlink_to("loops")
    project = repo / "mlops.yaml"
    project.write_text(project.read_text() + "  spec_dirs: [models, deployments, loops]\n")
    run = run_cli("--repo", repo, "validate")
    assert "internal error" not in run.seen
