"""A reference_data file monitoring cannot use is a clear error (exit 1), not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.monitor.helpers import (
    MonitorRepo,
    append,
    jsonl,
    record,
)
from tests.support.cli import run_cli

REF = "data/reference/clf-1.0.0.csv"


@pytest.fixture
def repo(tmp_path: Path) -> MonitorRepo:
    spec = MonitorRepo(tmp_path / "repo")
    spec.deployment(
        "clf-prod", monitoring={"predictions": "logs/clf-prod/", "window": {"records": 1000}}
    )
    spec.init_git()
    append(spec.root / "logs/clf-prod/p.jsonl", jsonl([record(0), record(1)]))
    return spec


def monitor(root: Path) -> str:
    """`monitor` fails with exit 1; what it shows."""
    return run_cli("--repo", root, "monitor", "--no-commit", expect=1).seen


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"x,colour\n1,red\n1,red,3,4\n", "reference data data/reference/clf-1.0.0.csv"),
        (b"\xff\xfe\x00garbage\n\x81\x82,\x83\n", "reference data data/reference/clf-1.0.0.csv"),
        (b"", "reference data data/reference/clf-1.0.0.csv"),
    ],
    ids=["ragged", "not-utf8", "empty"],
)
def test_an_unparseable_reference_file_is_a_clear_error(
    repo: MonitorRepo, content: bytes, expected: str
) -> None:
    (repo.root / REF).write_bytes(content)
    out = monitor(repo.root)
    assert expected in out and "Traceback" not in out


@pytest.mark.parametrize(
    "text",
    ["target\n1\n0\n", "x,colour\n"],
    ids=["only-target", "no-rows"],
)
def test_a_reference_file_without_usable_columns_is_a_clear_error(
    repo: MonitorRepo, text: str
) -> None:
    (repo.root / REF).write_text(text)
    out = monitor(repo.root)
    assert f"reference data {REF} has no rows or no feature columns" in out
