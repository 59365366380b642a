"""Committed symlinks never turn the tool's writes or deletes into ones outside the repository.

Each test commits a symlink where the tool writes (a report's chart folder, the day's alerts
file, the state folder, the rendered manifests...), runs the tool on a fresh clone, and checks
that the run is refused with the path named, and that nothing outside changed: same entries,
same bytes, same modification times, nothing new.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.helpers import (
    ALERTS_FILE,
    DEPLOYMENT,
    NOW,
    clone,
    commit_symlink,
    drifting_repo,
    outside_victims,
    snapshot,
)
from tests.support.cli import run_in
from tests.support.git import init_git
from tests.support.repos import engine_repo_v1
from tests.support.values import NOW as APPLY_NOW


def test_a_symlinked_chart_folder_is_refused_and_nothing_outside_changes(tmp_path: Path) -> None:
    victims = outside_victims(tmp_path)
    origin = drifting_repo(tmp_path / "origin")
    commit_symlink(origin, f"reports/{DEPLOYMENT}/charts", victims)
    before = snapshot(victims)
    checkout = clone(origin, tmp_path / "ci")

    done = run_in(checkout, "reconcile", "--now", NOW)

    assert done.code == 1, done.seen
    assert f"refusing to write {checkout}/reports/{DEPLOYMENT}/charts/" in done.err
    assert f"reports/{DEPLOYMENT}/charts is a symbolic link (to {victims})" in done.err
    assert "internal error" not in done.err
    assert snapshot(victims) == before  # old.svg not deleted, no chart written there


def test_a_symlinked_alerts_file_is_refused_and_the_target_is_untouched(tmp_path: Path) -> None:
    victims = outside_victims(tmp_path)
    origin = drifting_repo(tmp_path / "origin")
    commit_symlink(origin, ALERTS_FILE, victims / "bashrc")
    before = snapshot(victims)
    checkout = clone(origin, tmp_path / "ci")

    done = run_in(checkout, "reconcile", "--now", NOW, "--format", "json")

    assert snapshot(victims) == before  # nothing appended to the "shell rc file"
    assert "internal error" not in done.err
    assert f"refusing to write {checkout}/{ALERTS_FILE}" in done.seen
    assert f"{ALERTS_FILE} is a symbolic link (to {victims / 'bashrc'})" in done.seen
    # the alert was not delivered, and says so
    assert '"delivered": true' not in done.out


@pytest.mark.parametrize(
    "link",
    [
        ".mlops/state",
        ".mlops/state/models",
        ".mlops",
        "rendered/kserve",
        "rendered",
        ".mlops/artifacts",
        ".mlops/journal.jsonl",
    ],
)
def test_apply_refuses_a_symlinked_folder_it_writes(link: str, tmp_path: Path) -> None:
    victims = outside_victims(tmp_path)
    origin = tmp_path / "origin"
    engine_repo_v1(origin)  # alpha-prod renders a KServe manifest into rendered/kserve
    init_git(origin)
    target = victims / "journal" if link.endswith(".jsonl") else victims
    if target != victims:
        target.write_text("")
    (origin / ".gitignore").write_text("")  # the link itself must reach the clone
    commit_symlink(origin, link, target)
    before = snapshot(victims)
    checkout = clone(origin, tmp_path / "ci")

    done = run_in(checkout, "apply", "--now", APPLY_NOW)

    assert done.code == 1, done.seen
    assert "internal error" not in done.err
    assert f"{link} is a symbolic link (to {target})" in done.seen
    assert snapshot(victims) == before


def test_output_files_named_on_the_command_line_are_not_written_through_a_symlink(
    tmp_path: Path,
) -> None:
    victims = outside_victims(tmp_path)
    origin = tmp_path / "origin"
    engine_repo_v1(origin)
    init_git(origin)
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").symlink_to(victims / "bashrc")
    (out / "plan.json").symlink_to(victims / "notes.txt")
    before = snapshot(victims)

    compiled = run_in(origin, "compile", "-o", str(out))
    planned = run_in(origin, "plan", "--now", APPLY_NOW, "-o", str(out / "plan.json"))

    assert compiled.code == 1 and planned.code == 1, compiled.seen + planned.seen
    assert f"manifest.json is a symbolic link (to {victims / 'bashrc'})" in compiled.err
    assert f"plan.json is a symbolic link (to {victims / 'notes.txt'})" in planned.err
    assert snapshot(victims) == before
