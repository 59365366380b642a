"""Running git: commands go through `run`, within its output budget. The exceptions read what
is bounded already: `objects` streams blobs whose sizes it checked first, `verify_commit` reads
git's one-line verdict on a signature."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import IO

from mlops_gitops.errors import MlopsError
from mlops_gitops.urls import redact_text

_AUTHOR_RE = re.compile(r"^\s*([^<>]+?)\s*<([^<>\s]+)>\s*$")


class GitError(MlopsError):
    pass


def git_environment() -> dict[str, str]:
    """What every git process of the tool runs with: never a prompt, no optional locks."""
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.setdefault("GIT_OPTIONAL_LOCKS", "0")
    return env


MAX_OUTPUT = 256 << 20
"""Characters read from one git command: a repository can hold a commit message of any size."""
MAX_ERROR = 64 << 10
"""Bytes of git's stderr shown in an error."""


def run(
    root: Path,
    *args: str,
    stdin: str | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> str:
    """git's output as text (newlines as `subprocess.run(text=True)` gives them), at most
    MAX_OUTPUT characters; GitError past that, or on failure when `check`. Bytes that are not
    UTF-8 (a commit message can hold any) read as U+FFFD rather than failing the command."""
    command = _command(args)
    with (
        tempfile.TemporaryFile() as said,
        subprocess.Popen(
            ["git", "-C", str(root), *args],
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=said,
            encoding="utf-8",
            errors="replace",
            env=git_environment() | (env or {}),
        ) as proc,
    ):
        assert proc.stdout is not None
        feeder = None
        if stdin is not None:  # fed beside the reading: neither side waits on a full pipe
            feeder = threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True)
            feeder.start()
        try:
            out = proc.stdout.read(MAX_OUTPUT + 1)
            if len(out) > MAX_OUTPUT:
                proc.kill()
                raise GitError(f"git {command} printed more than {MAX_OUTPUT:,} characters")
            code = proc.wait()
        finally:
            if feeder is not None:  # done with stdin before Popen closes it under the thread
                if proc.poll() is None:
                    proc.kill()
                feeder.join()
        said.seek(0)
        err = said.read(MAX_ERROR).decode("utf-8", "replace")
    if check and code != 0:
        raise GitError(f"git {command} failed: {err.strip() or out.strip()}")
    return out


def _command(args: tuple[str, ...]) -> str:
    """The git command run (`log`), past global options and `-c name=value` pairs."""
    value_of_c = False
    for arg in args:
        if value_of_c or arg == "-c":
            value_of_c = not value_of_c
            continue
        if not arg.startswith("-"):
            return arg
    return "command"


def _feed(pipe: IO[str] | None, text: str) -> None:
    if pipe is None:
        return
    try:
        with pipe:
            pipe.write(text)
    except (OSError, ValueError):
        pass  # git stopped reading: its exit status says why


def common_dir(root: Path) -> Path | None:
    """What `git rev-parse --git-common-dir` names for the work tree holding `root` (the
    folder shared by all its worktrees), found the way git finds it but without running git:
    the nearest `.git` folder, or `.git` file of a worktree or submodule (`gitdir: ...`), then
    its `commondir` file. None outside a repository or when anything looks wrong."""
    if os.environ.get("GIT_DIR") or os.environ.get("GIT_COMMON_DIR"):
        out = run(root, "rev-parse", "--git-common-dir", check=False).strip()
        return (root / out).resolve() if out else None
    start = root.resolve()
    for folder in (start, *start.parents):
        dot = folder / ".git"
        try:
            if dot.is_dir():
                gitdir = dot
            elif dot.is_file():
                with open(dot, encoding="utf-8") as handle:
                    line = handle.readline(4096).strip()
                if not line.startswith("gitdir:"):
                    return None
                gitdir = folder / line.removeprefix("gitdir:").strip()
            else:
                continue
            common = gitdir
            if (gitdir / "commondir").is_file():
                common = gitdir / (gitdir / "commondir").read_text(encoding="utf-8").strip()
            return common.resolve() if (common / "objects").is_dir() else None
        except (OSError, UnicodeDecodeError, ValueError):
            return None
    return None


def is_repo(root: Path) -> bool:
    done = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
        text=True,
        env=git_environment(),
        check=False,
    )
    return done.returncode == 0 and done.stdout.strip() == "true"


def head(root: Path) -> str | None:
    """The commit checked out, or None outside git or before the first commit."""
    if not is_repo(root):
        return None
    # HEAD names a commit whenever it resolves; peeling it (HEAD^{commit}) would cost git
    # 20-30 ms of reading packs in a large repository, and planning asks several times.
    out = run(root, "rev-parse", "--verify", "--quiet", "HEAD", check=False).strip()
    return out or None


def parse_author(author: str) -> tuple[str, str]:
    match = _AUTHOR_RE.match(author)
    if not match:
        raise MlopsError(f"git author {author!r} is not of the form 'Name <email>'")
    return match.group(1), match.group(2)


def changed(root: Path, paths: list[str], untracked: bool = True) -> list[str]:
    """Paths under `paths` that differ from HEAD, including deleted files, and new ones
    unless `untracked` is False (listing those walks every folder below `paths`)."""
    if not paths:
        return []
    out = run(
        root,
        "--literal-pathspecs",  # a path from a spec is a name, never pathspec magic
        "status",
        "--porcelain=v1",
        "-z",
        f"--untracked-files={'all' if untracked else 'no'}",
        "--",
        *paths,
    )
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


def tracked(root: Path, paths: list[str]) -> set[str]:
    """The files git's index holds under `paths`."""
    if not paths:
        return set()
    out = run(root, "--literal-pathspecs", "ls-files", "-z", "--", *paths)
    return {name for name in out.split("\0") if name}


def commit(
    root: Path,
    paths: list[str],
    message: str,
    author: str | None = None,
) -> str | None:
    """Commit exactly `paths` (new, changed or deleted); None when nothing changed.

    The message is scrubbed of URL credentials: the history is published with the repository.
    """
    message = redact_text(message)
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


def record(root: Path, message: str, author: str | None = None) -> str | None:
    """A commit on HEAD with HEAD's tree: it only records its message. Made with plumbing, so
    the index (whatever the user staged) is neither read nor changed. None before a first
    commit."""
    parent = head(root)
    if parent is None:
        return None
    env: dict[str, str] = {}
    if author:
        name, email = parse_author(author)
        env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email}
    if not run(root, "config", "user.email", check=False).strip():
        name, email = parse_author(author or "mlops-gitops <mlops-gitops@localhost>")
        env |= {"GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
        env.setdefault("GIT_AUTHOR_NAME", name)
        env.setdefault("GIT_AUTHOR_EMAIL", email)
    tree = run(root, "rev-parse", f"{parent}^{{tree}}").strip()
    sha = run(
        root,
        "commit-tree",
        "--no-gpg-sign",
        tree,
        "-p",
        parent,
        "-F",
        "-",
        stdin=redact_text(message),
        env=env,
    ).strip()
    run(root, "update-ref", "-m", "mlops-gitops: record", "HEAD", sha, parent)
    return sha


def one_line(value: str) -> str:
    """Trailer values must stay on one line whatever a spec contains."""
    return " ".join(value.split())
