"""Commits: the log with its Mlops-* trailers, revisions, and signatures."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from mlops_gitops.git.process import git_environment, head, is_repo, run

TRAILER_RE = re.compile(r"^(Mlops-[A-Za-z-]+):\s?(.*)$")


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    time: str
    author: str
    subject: str
    trailers: list[tuple[str, str]] = field(default_factory=list)
    committer: str = ""
    parent: str | None = None

    def trailer(self, key: str) -> str | None:
        """The first value of trailer `key`, None when absent."""
        return next((value for name, value in self.trailers if name == key), None)


def log(
    root: Path, paths: list[str] | None = None, max_count: int | None = None
) -> list[CommitInfo]:
    """Commits, newest first, with their Mlops-* trailers."""
    if head(root) is None:
        return []
    args = [
        "--literal-pathspecs",
        "log",
        "--format=%H%x1f%aI%x1f%an <%ae>%x1f%cn <%ce>%x1f%P%x1f%B%x1e",
    ]
    if max_count:
        args.append(f"--max-count={max_count}")
    if paths:
        args += ["--", *paths]
    out = run(root, *args)
    commits = []
    for record in out.split("\x1e"):
        record = record.strip("\n")
        if not record:
            continue
        sha, time, author, committer, parents, body = record.split("\x1f", 5)
        lines = body.splitlines()
        trailers = [(m.group(1), m.group(2)) for line in lines if (m := TRAILER_RE.match(line))]
        first = parents.split()[0] if parents.split() else None
        subject = lines[0] if lines else ""
        commits.append(CommitInfo(sha, time, author, subject, trailers, committer, first))
    return commits


def trailer_log(
    root: Path, commit: str, path: str, key: str, max_count: int
) -> list[tuple[str, list[str]]]:
    """(commit, the values of trailer `key` in its closing trailer block) for the commits in
    `commit`'s history touching `path`, newest first, at most `max_count`: git parses the
    messages, only the values travel (a message can be megabytes)."""
    if not re.fullmatch(r"Mlops-[A-Za-z-]+", key):
        raise ValueError(f"not a trailer key: {key!r}")  # it goes into git's format string
    out = run(
        root,
        "--literal-pathspecs",
        "log",
        f"--format=%H%x1f%(trailers:key={key},valueonly,separator=%x1f)%x1e",
        f"--max-count={max_count}",
        "--end-of-options",
        commit,
        "--",
        path,
    )
    found = []
    for record in out.split("\x1e"):
        sha, _, values = record.strip("\n").partition("\x1f")
        if sha:
            found.append((sha, values.split("\x1f") if values else []))
    return found


def resolve(root: Path, rev: str) -> str | None:
    """The commit `rev` names (any revision syntax), None when it names no commit."""
    if not rev or rev.startswith("-") or "\n" in rev or "\0" in rev or not is_repo(root):
        return None
    out = run(
        root,
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        f"{rev}^{{commit}}",
        check=False,
    )
    return out.strip() or None


def commit_before(root: Path, when: str) -> str | None:
    """The last commit of HEAD's first-parent line made at or before `when` (ISO time)."""
    if head(root) is None:
        return None
    out = run(root, "rev-list", "-1", "--first-parent", f"--before={when}", "HEAD", check=False)
    return out.strip() or None


def last_change(root: Path, commit: str, path: str) -> str | None:
    """The newest commit at or before `commit` that changed `path` (relative to `root`)."""
    out = run(root, "log", "-1", "--format=%H", "--end-of-options", commit, "--", path, check=False)
    return out.strip() or None


def head_trailers(root: Path) -> list[tuple[str, str]]:
    found = log(root, max_count=1)
    return found[0].trailers if found else []


def verify_commit(root: Path, commit: str, allowed_signers: Path) -> tuple[bool, str]:
    """Whether `commit` carries a good SSH signature by a key of the allowed-signers file;
    with git's one-line account of it (signer, or why not). Nothing of the repository's or
    the user's configuration decides which keys count."""
    done = subprocess.run(
        [
            "git",
            "-C",
            str(root),
            "-c",
            "gpg.format=ssh",
            "-c",
            f"gpg.ssh.allowedSignersFile={allowed_signers}",
            "-c",
            "gpg.ssh.revocationFile=",
            "-c",
            "gpg.ssh.program=ssh-keygen",
            "verify-commit",
            "--raw",
            "--end-of-options",
            commit,
        ],
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        env=git_environment(),
        check=False,
    )
    said = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    good = next((line for line in said if line.startswith("Good ")), None)
    if done.returncode == 0 and good:
        return True, good
    reason = said[-1] if said else "no signature"
    if "no signature" in reason.lower() or not said:
        reason = "not signed"
    return False, reason
