"""The recorded state checked against git history: lost or rolled-back state is refused.

Every apply that changes anything moves the state's serial from N - 1 to N and commits it
with `Mlops-Serial: N`. The newest such commit in HEAD's history is what the history says the
state is; a work tree whose state is missing, of another lineage or of a lower serial has lost
or undone applied steps, and planning from it would redo them from scratch (a new lineage at
serial 1 that drops production). Committed state is repository content like any other: it is
read with size budgets and validated before it is believed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from pydantic import ValidationError

from mlops_gitops import git
from mlops_gitops.errors import MlopsError
from mlops_gitops.safeio import loads
from mlops_gitops.state.records import Meta, migrate
from mlops_gitops.state.store import MAX_STATE_BYTES, META_FILE
from mlops_gitops.state.view import StateView

BATCH = 32
"""Candidate commits whose state meta is read per git process."""
MAX_SCANNED = 16384
"""Commits touching the state meta looked at, claims or not."""
MAX_CANDIDATES = 4096
"""Tool commits looked at before giving up: a history claims this many forged serials only
on purpose."""


class LostState(MlopsError):
    """The recorded state is behind, beside or missing from what git history recorded."""


@dataclass(frozen=True)
class Recorded:
    """The state meta the history last recorded: commit, lineage and serial."""

    commit: str
    lineage: str
    serial: int


def meta_path(state_dir: str) -> str:
    return f"{state_dir.strip('/')}/{META_FILE}"


def parse_meta(data: bytes | None) -> Meta | None:
    """A state meta file as committed, validated like the work tree's; None when absent or
    not a valid meta."""
    if data is None or len(data) > MAX_STATE_BYTES:
        return None
    try:
        value = loads(data.decode("utf-8"))
        if not isinstance(value, dict):
            return None
        return Meta.model_validate(migrate(value))
    except (ValueError, UnicodeDecodeError, ValidationError, TypeError, RecursionError):
        return None


def _claims(commits: Iterable[tuple[str, list[str]]]) -> Iterator[tuple[str, int]]:
    """(commit, serial) of commits that say they applied steps: one `Mlops-Serial: N`."""
    for sha, values in commits:
        serials = [value.strip() for value in values]
        if len(serials) == 1 and serials[0].isdigit() and len(serials[0]) < 19:
            yield sha, int(serials[0])


def last_recorded(root: Path, state_dir: str) -> Recorded | None:
    """The newest commit in HEAD's history whose state meta advanced the serial from its
    first parent's N - 1 (0 without state) to the N its `Mlops-Serial` trailer claims; a
    trailer typed by hand proves nothing. None when no commit did (a first apply)."""
    meta = meta_path(state_dir)
    commit = git.head(root)
    if commit is None:
        return None
    # Only the trailer values travel, so a long history costs little; it is still bounded.
    serials = git.trailer_log(root, commit, meta, "Mlops-Serial", MAX_SCANNED)
    claims = islice(_claims(serials), MAX_CANDIDATES)
    while chunk := list(islice(claims, BATCH)):
        names = [name for sha, _ in chunk for name in (f"{sha}:{meta}", f"{sha}^:{meta}")]
        found = iter(git.read_files(root, names, MAX_STATE_BYTES))
        for sha, claimed in chunk:
            after, before = parse_meta(next(found)), parse_meta(next(found))
            if after is None or after.serial != claimed or claimed < 1:
                continue
            if (before is None and claimed == 1) or (
                before is not None
                and before.lineage == after.lineage
                and before.serial == claimed - 1
            ):
                return Recorded(sha, after.lineage, claimed)
    return None


def problem(view: StateView, recorded: Recorded | None) -> str | None:
    """What is wrong with the work tree's state given the history's record, or None."""
    if recorded is None:
        return None
    if view.meta is None:
        return "the recorded state is missing"
    if view.meta.lineage != recorded.lineage:
        return f"the recorded state is of another lineage ({view.meta.lineage})"
    if view.meta.serial < recorded.serial:
        return f"the recorded state is at serial {view.meta.serial}, behind the history"
    return None


def check(root: Path, state_dir: str, view: StateView) -> None:
    """Refuse state that lost or undid applied steps; a repository without git history of
    applies (or outside git) starts a lineage."""
    if git.head(root) is None:
        return
    recorded = last_recorded(root, state_dir)
    wrong = problem(view, recorded)
    if wrong is None or recorded is None:
        return
    raise LostState(
        f"{wrong}: git history last recorded lineage {recorded.lineage} at serial "
        f"{recorded.serial} in commit {recorded.commit[:12]}; planning from this state "
        "would redo or undo applied steps",
        hint="restore it with: mlops-gitops state restore (or state restore --from <commit>)",
    )
