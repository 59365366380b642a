"""history lists only steps that really changed the recorded state.

A human commit whose message carries `Mlops-Step:` trailers (typed by hand, pasted from a
real tool commit, or kept by a squash merge) is not an applied step unless the commit moves
the committed state serial from N - 1 to the N its `Mlops-Serial` names.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.security.helpers import commit
from tests.support.cli import run_in
from tests.support.git import git, init_git
from tests.support.repos import engine_repo_v1, engine_repo_v2
from tests.support.values import NOW

FORGED = """Tidy deployment comments

Mlops-Step: rollback Deployment/beta-prod 0.9.0
Mlops-Reason: rule beta-drift: drift share 0.90 > 0.25
Mlops-Serial: {serial}
"""


def events(repo: Path) -> list[dict[str, object]]:
    done = run_in(repo, "history", "--format", "json")
    assert done.code == 0, done.seen
    found: list[dict[str, object]] = json.loads(done.out)["events"]
    return found


def forge(repo: Path, serial: int, meta: dict[str, object] | None) -> str:
    """A human commit with tool trailers; `meta`: state meta it also commits, if any."""
    path = repo / "deployments" / "beta-prod.yaml"
    path.write_text(path.read_text() + "# reviewed\n")
    if meta is not None:
        (repo / ".mlops/state/meta.json").write_text(json.dumps(meta))
    git(repo, "add", "-A")
    message = repo / ".git" / "FORGED_MSG"
    message.write_text(FORGED.format(serial=serial))
    git(repo, "commit", "-q", "-F", str(message))
    return git(repo, "rev-parse", "HEAD").strip()


def test_a_forged_human_commit_is_not_listed_and_tool_commits_still_are(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    spec = engine_repo_v1(repo)
    init_git(repo)
    assert run_in(repo, "apply", "--now", NOW).code == 0
    first = git(repo, "rev-parse", "HEAD").strip()
    meta = json.loads((repo / ".mlops/state/meta.json").read_text())

    forged = [
        forge(repo, serial=2, meta=None),  # trailers only
        forge(repo, serial=1, meta=None),  # the real commit's serial, again
        forge(repo, serial=7, meta=meta | {"serial": 7}),  # a jump, not one apply
    ]
    engine_repo_v2(spec)
    commit(repo, "Specs v2")
    assert run_in(repo, "apply", "--now", NOW).code == 0
    second = git(repo, "rev-parse", "HEAD").strip()

    listed = events(repo)
    commits = {str(e["commit"]) for e in listed}
    assert commits == {first, second}
    assert not commits & set(forged)
    assert [
        e
        for e in listed
        if e["object"] == {"kind": "Deployment", "name": "beta-prod", "version": "0.9.0"}
    ] == []
    assert sum(1 for e in listed if e["commit"] == first) == 10  # every step of the first apply
    assert all(e["action"] != "rollback" for e in listed)


def test_a_trailer_only_forgery_before_any_apply_is_not_listed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    engine_repo_v1(repo)
    init_git(repo)
    forge(repo, serial=1, meta=None)
    assert events(repo) == []
    done = run_in(repo, "history")
    assert "No applied steps recorded yet." in done.out


def test_a_commit_message_that_is_not_utf8_is_read_not_a_crash(tmp_path: Path) -> None:
    """git keeps a message's bytes as given (`hash-object --literally`): plan's lost-state
    check and history read them with replacement characters."""
    repo = tmp_path / "repo"
    engine_repo_v1(repo)
    init_git(repo)
    assert run_in(repo, "apply", "--now", NOW).code == 0
    meta = repo / ".mlops/state/meta.json"
    meta.write_text(json.dumps(json.loads(meta.read_text()), indent=3))  # touches the meta
    git(repo, "add", "-A")
    tree = git(repo, "write-tree").strip()
    parent = git(repo, "rev-parse", "HEAD").strip()
    raw = repo / ".git" / "RAW_COMMIT"
    raw.write_bytes(
        f"tree {tree}\nparent {parent}\nauthor x <x@y> 1796280352 +0000\n"
        "committer x <x@y> 1796280352 +0000\n\n".encode()
        + b"bytes \xff\xfe\n\nMlops-Step: rollback Deployment/beta-prod \xff\nMlops-Serial: \xfe\n"
    )
    forged = git(repo, "hash-object", "-t", "commit", "-w", "--literally", str(raw)).strip()
    git(repo, "update-ref", "HEAD", forged)
    assert run_in(repo, "plan", "--now", NOW).code in (0, 2)
    assert [e["commit"] for e in events(repo)].count(forged) == 0
