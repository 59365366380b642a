"""State files of rules and retirements, and JSON the tool writes.

A rule's progress says when it last fired: forged with a time in the year 9999 it overflows
the cooldown arithmetic (an internal error); NaN tokens and deep nesting are refused like in
every state file. Retirement progress with `schema_version: null` or the wrong layout is an
error naming the file.
JSON the tool writes never holds a bare NaN (not JSON): `ruff` bans `json.dump(s)` in the
package, `safeio.dumps` refuses NaN, and data the tool does not control (a model's
predictions) is logged with NaN as null.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlops_gitops.automate.retirement import RetirementRunner
from mlops_gitops.automate.rules import RuleRunner
from mlops_gitops.errors import MlopsError
from mlops_gitops.safeio import TooLarge, dumps, finite, loads, read_all
from mlops_gitops.serve.logs import PredictionLog
from mlops_gitops.workspace import Workspace
from tests.support.corpus import CORPUS_BASE
from tests.support.repos import copy_repo

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
RULE_STATE = ".mlops/state/rules/fraud-drift.json"
RETIREMENT_STATE = ".mlops/state/retirements/retire-fraud-1-0.json"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return copy_repo(CORPUS_BASE, tmp_path / "repo")


def _write(repo: Path, rel: str, text: str) -> None:
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    (repo / rel).write_text(text)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            '{"rule": "fraud-drift", "last_fired": "9999-12-31T23:59:59+00:00"}',
            "year 9999 is out of range",
        ),
        ('{"rule": "fraud-drift", "last_schedule_run": "yesterday"}', "last_schedule_run"),
        ('{"rule": "fraud-drift", "fired": 3}', "fired"),
        ("[]", "(top level)"),
        ('{"rule": "fraud-drift", "last_data": NaN}', "NaN is not a number JSON allows"),
        ("[" * 100_000 + "]" * 100_000, "nested deeper than 64 levels"),
    ],
)
def test_forged_rule_state_is_a_clear_error(repo: Path, text: str, says: str) -> None:
    _write(repo, RULE_STATE, text)
    runner = RuleRunner(Workspace.load(repo), NOW, commit=False)
    with pytest.raises(MlopsError) as caught:
        runner.run_all()
    assert caught.value.message.startswith(f"{RULE_STATE}: ")
    assert says in caught.value.message


def test_missing_rule_state_starts_empty(repo: Path) -> None:
    outcomes = RuleRunner(Workspace.load(repo), NOW, commit=False).run_all()
    assert [o.evaluation.rule for o in outcomes] == ["fraud-drift"]


@pytest.mark.parametrize(
    "text",
    [
        '{"schema_version": null, "model": "fraud-detector", "version": "1.0.0"}',
        '{"schema_version": 1, "model": "fraud-detector", "version": "1.0.0", "phases": []}',
        '{"schema_version": 1, "model": "fraud-detector", "version": "1.0.0", '
        '"phases": {"deprecation_warning": "done"}}',
        "[" * 100_000 + "]" * 100_000,
    ],
)
def test_forged_retirement_state_is_a_clear_error(repo: Path, text: str) -> None:
    _write(repo, RETIREMENT_STATE, text)
    runner = RetirementRunner(Workspace.load(repo), NOW, commit=False)
    with pytest.raises(MlopsError) as caught:
        runner.run_all()
    assert caught.value.message.startswith(f"{RETIREMENT_STATE}: ")


def test_json_the_tool_writes_refuses_nan() -> None:
    for number in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError):
            dumps({"x": number})
    with pytest.raises(ValueError, match="NaN is not a number JSON allows"):
        loads('{"x": NaN}')
    with pytest.raises(ValueError, match="non-finite"):
        loads('{"x": 1e999}')


def test_predictions_that_are_not_numbers_are_logged_as_null(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "logs", flush_seconds=60)
    log.append({"prediction": float("nan"), "score": float("inf"), "features": {"a": 1.5}})
    log.close()
    [line] = (tmp_path / "logs").glob("*.jsonl")
    assert json.loads(line.read_text()) == {
        "prediction": None,
        "score": None,
        "features": {"a": 1.5},
    }
    assert finite([1.0, -float("inf")]) == [1.0, None]


def test_a_file_that_grows_while_read_is_read_to_its_end_within_the_budget(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"x" * 100)
    with open(path, "rb") as handle:
        fd = handle.fileno()
        expected = os.fstat(fd).st_size
        assert read_all(fd, expected, 1_000) == b"x" * 100
    with open(path, "rb") as handle:
        expected = os.fstat(handle.fileno()).st_size
        with open(path, "ab") as more:  # written to after its size was taken
            more.write(b"y" * 50)
        assert read_all(handle.fileno(), expected, 1_000) == b"x" * 100 + b"y" * 50
    with open(path, "rb") as handle:
        expected = os.fstat(handle.fileno()).st_size
        with open(path, "ab") as more:
            more.write(b"z" * 2_000)
        with pytest.raises(TooLarge):
            read_all(handle.fileno(), expected, 1_000)
