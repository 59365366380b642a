"""The only module that talks to git.

Every call passes user- or spec-derived values as plain arguments after `--` or through
stdin, never as options; commits skip hooks so a repository cannot run code through us.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from mlops_gitops.errors import MlopsError

TRAILER_RE = re.compile(r"^(Mlops-[A-Za-z-]+):\s?(.*)$")
_AUTHOR_RE = re.compile(r"^\s*([^<>]+?)\s*<([^<>\s]+)>\s*$")


class GitError(MlopsError):
    pass


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.setdefault("GIT_OPTIONAL_LOCKS", "0")
    return env


def run(root: Path, *args: str, stdin: str | None = None, check: bool = True) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )
    if check and done.returncode != 0:
        command = " ".join(args[:2])
        raise GitError(f"git {command} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def is_repo(root: Path) -> bool:
    done = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )
    return done.returncode == 0 and done.stdout.strip() == "true"


def common_dir(root: Path) -> Path | None:
    """The git directory shared by all work trees (`git rev-parse --git-common-dir`): a place
    for local caches that no commit can carry. None outside git."""
    if not is_repo(root):
        return None
    out = run(root, "rev-parse", "--git-common-dir", check=False).strip()
    if not out:
        return None
    path = Path(out)
    return (path if path.is_absolute() else root / path).resolve()


def head(root: Path) -> str | None:
    """The commit checked out, or None outside git or before the first commit."""
    if not is_repo(root):
        return None
    out = run(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False).strip()
    return out or None


def parse_author(author: str) -> tuple[str, str]:
    match = _AUTHOR_RE.match(author)
    if not match:
        raise MlopsError(f"git author {author!r} is not of the form 'Name <email>'")
    return match.group(1), match.group(2)


def changed(root: Path, paths: list[str]) -> list[str]:
    """Paths under `paths` that differ from HEAD, including new and deleted files."""
    if not paths:
        return []
    out = run(root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *paths)
    files = []
    entries = out.split("\0")
    skip = False
    for entry in entries:
        if skip:
            skip = False
            continue
        if not entry:
            continue
        status, name = entry[:2], entry[3:]
        if "R" in status or "C" in status:
            skip = True
        files.append(name)
    return sorted(set(files))


def commit(
    root: Path,
    paths: list[str],
    message: str,
    author: str | None = None,
) -> str | None:
    """Commit exactly `paths` (new, changed or deleted); None when nothing changed."""
    files = changed(root, paths)
    if not files:
        return None
    run(root, "add", "-A", "--", *files)
    config: list[str] = ["-c", "core.hooksPath=/dev/null", "-c", "commit.gpgsign=false"]
    extra: list[str] = []
    if author:
        name, email = parse_author(author)
        extra.append(f"--author={name} <{email}>")
        if not run(root, "config", "user.email", check=False).strip():
            config += ["-c", f"user.name={name}", "-c", f"user.email={email}"]
    elif not run(root, "config", "user.email", check=False).strip():
        config += ["-c", "user.name=mlops-gitops", "-c", "user.email=mlops-gitops@localhost"]
    run(
        root,
        *config,
        "commit",
        "--no-verify",
        "--quiet",
        *extra,
        "-F",
        "-",
        "--",
        *files,
        stdin=message,
    )
    return run(root, "rev-parse", "HEAD").strip()


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    time: str
    author: str
    subject: str
    trailers: list[tuple[str, str]] = field(default_factory=list)


def log(
    root: Path, paths: list[str] | None = None, max_count: int | None = None
) -> list[CommitInfo]:
    """Commits, newest first, with their Mlops-* trailers."""
    if head(root) is None:
        return []
    args = ["log", "--format=%H%x1f%aI%x1f%an <%ae>%x1f%B%x1e"]
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
        sha, time, author, body = record.split("\x1f", 3)
        lines = body.splitlines()
        trailers = [(m.group(1), m.group(2)) for line in lines if (m := TRAILER_RE.match(line))]
        commits.append(CommitInfo(sha, time, author, lines[0] if lines else "", trailers))
    return commits


def head_trailers(root: Path) -> list[tuple[str, str]]:
    found = log(root, max_count=1)
    return found[0].trailers if found else []


def show(root: Path, commit: str, path: str) -> str:
    return run(root, "show", f"{commit}:{path}")


def one_line(value: str) -> str:
    """Trailer values must stay on one line whatever a spec contains."""
    return " ".join(value.split())
