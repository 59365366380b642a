"""Repository text cannot forge output lines: a file name or value carrying a line break or an
escape sequence is shown escaped by every renderer (text, Markdown, GitHub annotations)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_gitops.errors import Problem
from mlops_gitops.render.base import Lines, scrub
from mlops_gitops.render.validate import github_annotation, problems_text
from tests.support.cli import run_cli
from tests.support.repos import EXAMPLE_REPO, copy_repo

FORGED = "x\n::warning title=pwned::owned\r\x1b[31m\u202e"


def test_scrub_shows_every_control_character() -> None:
    assert scrub(FORGED) == "x\\n::warning title=pwned::owned\\r\\x1b[31m\\u202e"
    assert scrub("tab\tstays") == "tab\tstays"


def test_table_cells_are_escaped_before_padding() -> None:
    out = Lines()
    out.table([("A", "B"), ("a\nb", "c")])
    assert out.text() == "A     B\na\\nb  c\n"


def test_problem_text_is_one_line_per_problem() -> None:
    problem = Problem("bad value " + FORGED, path="models/" + FORGED + ".yaml", line=3)
    text = problems_text([problem])
    assert text.count("\n") == 1
    assert "\x1b" not in text


def test_github_annotation_cannot_start_a_second_command() -> None:
    problem = Problem("msg " + FORGED, path="models/" + FORGED + ".yaml", line=2, column=1)
    line = github_annotation(problem.to_json())
    assert "\n" not in line and "\r" not in line
    assert line.startswith("::error file=models/x%0A%3A%3Awarning title=pwned%3A%3Aowned%0D")
    _, props, message = line.split("::", 2)
    assert props == (
        "error file=models/x%0A%3A%3Awarning title=pwned%3A%3Aowned%0D\\x1b[31m\\u202e.yaml,"
        "line=2,col=1"
    )
    assert message == "msg x%0A::warning title=pwned::owned%0D\\x1b[31m\\u202e"


@pytest.mark.parametrize("fmt", ["text", "github"])
def test_validate_output_of_a_forged_file_name(fmt: str, tmp_path: Path) -> None:
    repo = copy_repo(EXAMPLE_REPO, tmp_path / "repo")
    (repo / "models" / "evil\n::warning::pwned.yaml").write_text("kind: [\n", encoding="utf-8")
    run = run_cli("--repo", str(repo), "validate", "--format", fmt)
    assert run.code == 1
    lines = run.out.splitlines()
    assert lines, run.err
    assert not any(line.startswith("::warning") for line in lines)
    if fmt == "github":
        assert all(line.startswith("::error ") for line in lines)
    else:
        assert all(not line.startswith("::") for line in lines)


def test_validate_json_keeps_the_real_name(tmp_path: Path) -> None:
    repo = copy_repo(EXAMPLE_REPO, tmp_path / "repo")
    name = "evil\n::warning::pwned.yaml"
    (repo / "models" / name).write_text("kind: [\n", encoding="utf-8")
    run = run_cli("--repo", str(repo), "validate", "--format", "json")
    errors = json.loads(run.out)["errors"]
    assert any(e["path"] == f"models/{name}" for e in errors)
