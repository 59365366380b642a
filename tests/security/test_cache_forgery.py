"""No cache lives in the work tree: a committed cache never changes what the tool acts on.

The attacker runs the tool once on their own machine, takes the parse cache it wrote, edits
the cached data of a spec file (keeping the key: the sha256 of the reviewed file), recomputes
the header's checksum, and commits the result as `.mlops/cache/parse.json`. The reviewed YAML
says canary traffic 20; the forged cache says 90.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.security.helpers import clone, commit
from tests.support.cli import run_in
from tests.support.git import init_git
from tests.support.repos import engine_repo_v1
from tests.support.values import NOW

WARNING = "warning: ignoring .mlops/cache/ in the work tree"
FORGED_FILE = "deployments/alpha-staging.yaml"


def forge_parse_cache(repo: Path, scratch: Path) -> bytes:
    """What the attacker commits: the tool's own parse cache of `repo`, one entry edited."""
    done = run_in(repo, "validate")
    assert done.code == 0, done.seen
    written = [
        p for where in (repo, scratch) for p in where.rglob("parse.json") if ".git" not in p.parts
    ] or list(repo.glob(".git/**/parse.json"))
    assert written, "the tool wrote no parse cache to take the header from"
    head, _, body = written[0].read_bytes().partition(b"\n")
    entries = json.loads(body)
    key = hashlib.sha256((repo / FORGED_FILE).read_bytes()).hexdigest()
    data, text = entries[key]
    assert data["spec"]["canary"]["traffic"] == 20
    data["spec"]["canary"]["traffic"] = 90
    forged = json.dumps({key: [data, text]}, separators=(",", ":")).encode()
    header = json.loads(head) | {"sha256": hashlib.sha256(forged).hexdigest()}
    return json.dumps(header).encode() + b"\n" + forged


def test_a_committed_parse_cache_does_not_change_what_apply_acts_on(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    engine_repo_v1(origin)
    init_git(origin)
    attacker = tmp_path / "attacker"
    clone(origin, attacker)
    payload = forge_parse_cache(attacker, tmp_path / "home")
    (origin / ".mlops" / "cache").mkdir(parents=True)
    (origin / ".mlops" / "cache" / "parse.json").write_bytes(payload)
    commit(origin, "Speed up CI")
    checkout = clone(origin, tmp_path / "ci")

    done = run_in(checkout, "apply", "--now", NOW)

    assert done.code == 0, done.seen
    state = json.loads((checkout / ".mlops/state/deployments/alpha-staging.json").read_text())
    assert state["canary"]["traffic"] == 20  # the reviewed YAML, not the forged 90
    assert done.err.count(WARNING) == 1, done.err
    assert "rm -rf .mlops/cache" in done.err
    assert ".mlops/cache" not in done.out


def test_the_warning_is_shown_once_per_run_on_stderr(tmp_path: Path) -> None:
    """reconcile loads the specs several times (monitor, rules, apply): one warning."""
    origin = tmp_path / "origin"
    engine_repo_v1(origin)
    (origin / ".mlops" / "cache" / "monitor").mkdir(parents=True)
    (origin / ".mlops" / "cache" / "monitor" / "alpha-prod.pkl").write_bytes(b"\x80\x04.")
    init_git(origin)
    checkout = clone(origin, tmp_path / "ci")

    done = run_in(checkout, "reconcile", "--now", NOW, "--format", "json")

    assert done.code == 0, done.seen
    assert done.err.count(WARNING) == 1, done.err
    json.loads(done.out)  # stdout stays pure JSON


def test_caches_are_kept_in_the_git_directory_and_used(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    engine_repo_v1(origin)
    init_git(origin)
    assert run_in(origin, "validate").code == 0
    assert run_in(origin, "plan", "--now", NOW).code == 0
    kept = sorted(p.name for p in (origin / ".git" / "mlops-gitops").rglob("*.json"))
    assert "parse.json" in kept and "version-digests.json" in kept, kept
    assert not (origin / ".mlops").exists()
    assert not list((tmp_path / "home").rglob("parse.json"))  # not the user's cache: git has one
    done = run_in(origin, "validate")
    assert done.code == 0 and done.err == ""
