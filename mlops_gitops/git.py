"""The only module that talks to git.

Every call passes user- or spec-derived values as plain arguments after `--` or through
stdin, never as options; commits skip hooks so a repository cannot run code through us.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from mlops_gitops.errors import MlopsError
from mlops_gitops.urls import redact_text

TRAILER_RE = re.compile(r"^(Mlops-[A-Za-z-]+):\s?(.*)$")
_AUTHOR_RE = re.compile(r"^\s*([^<>]+?)\s*<([^<>\s]+)>\s*$")


class GitError(MlopsError):
    pass


def _env() -> dict[str, str]:
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
    MAX_OUTPUT characters; GitError past that, or on failure when `check`."""
    command = _command(args)
    with (
        tempfile.TemporaryFile() as errors,
        subprocess.Popen(
            ["git", "-C", str(root), *args],
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=_env() | (env or {}),
        ) as proc,
    ):
        assert proc.stdout is not None
        if stdin is not None:  # fed beside the reading: neither side waits on a full pipe
            threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True).start()
        out = proc.stdout.read(MAX_OUTPUT + 1)
        if len(out) > MAX_OUTPUT:
            proc.kill()
            raise GitError(f"git {command} printed more than {MAX_OUTPUT:,} characters")
        code = proc.wait()
        errors.seek(0)
        err = errors.read(MAX_ERROR).decode("utf-8", "replace")
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
    except (BrokenPipeError, ValueError):
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
        env=_env(),
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
    root: Path, path: str, key: str, max_count: int, skip: int = 0
) -> list[tuple[str, list[str]]]:
    """(commit, the values of trailer `key` in its trailer block) for commits touching `path`,
    newest first: git parses the messages, only the values are read."""
    if head(root) is None:
        return []
    out = run(
        root,
        "--literal-pathspecs",
        "log",
        f"--format=%H%x1f%(trailers:key={key},valueonly,separator=%x1f)%x1e",
        f"--max-count={max_count}",
        f"--skip={skip}",
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


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    kind: str
    oid: str
    size: int | None
    path: str


def tree(root: Path, commit: str) -> list[TreeEntry]:
    """Every entry of `commit`'s tree under `root` (paths relative to it), recursively."""
    out = run(root, "ls-tree", "-r", "-l", "-z", "--end-of-options", commit)
    entries = []
    for item in out.split("\0"):
        if not item:
            continue
        meta, _, path = item.partition("\t")
        mode, kind, oid, size = meta.split()
        entries.append(TreeEntry(mode, kind, oid, int(size) if size.isdigit() else None, path))
    return entries


def blobs(root: Path, oids: list[str]) -> Iterator[tuple[str, bytes]]:
    """The contents of blobs by object id, streamed from one `git cat-file --batch`."""
    if not oids:
        return
    with subprocess.Popen(
        ["git", "-C", str(root), "cat-file", "--batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_env(),
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        for oid in oids:
            proc.stdin.write(f"{oid}\n".encode())
            proc.stdin.flush()
            header = proc.stdout.readline().split()
            if len(header) != 3 or header[1] != b"blob" or not header[2].isdigit():
                raise GitError(f"git cat-file: object {oid} is not a readable blob")
            data = proc.stdout.read(int(header[2]))
            proc.stdout.read(1)
            yield oid, data
        proc.stdin.close()


def head_trailers(root: Path) -> list[tuple[str, str]]:
    found = log(root, max_count=1)
    return found[0].trailers if found else []


def show(root: Path, commit: str, path: str) -> str:
    return run(root, "show", f"{commit}:{path}")


MAX_BLOB = 1 << 20
"""Files read from history in one batch are small records; a larger one is not read."""


def read_files(root: Path, names: list[str], max_bytes: int = MAX_BLOB) -> list[bytes | None]:
    """The contents of `<rev>:<path>` names, in two git processes however many there are;
    None for a name that is no file there, or one larger than `max_bytes`."""
    usable = [n for n in names if "\n" not in n and "\r" not in n]
    if not usable:
        return [None] * len(names)
    checked = _batch(root, "--batch-check", usable)
    # The second process asks for the blobs by id: resolving `<rev>:<path>` again would read
    # each commit again, and an apply's commit can be large.
    wanted = {
        n: oid
        for n, (oid, _, size) in zip(usable, checked, strict=True)
        if oid and size <= max_bytes
    }
    ids = sorted(set(wanted.values()))
    blobs = {oid: data for oid, (_, data, _) in zip(ids, _batch(root, "--batch", ids), strict=True)}
    return [blobs.get(wanted.get(name, "")) for name in names]


def _batch(root: Path, mode: str, names: list[str]) -> list[tuple[str, bytes | None, int]]:
    """(object id, blob contents or None, size) per name from `git cat-file <mode>`."""
    if not names:
        return []
    done = subprocess.run(
        ["git", "-C", str(root), "cat-file", mode],
        input="".join(f"{name}\n" for name in names).encode(),
        capture_output=True,
        env=_env(),
        check=False,
    )
    out, pos = done.stdout, 0
    results: list[tuple[str, bytes | None, int]] = []
    for _ in names:
        end = out.find(b"\n", pos)
        if end < 0:
            results.append(("", None, MAX_BLOB + 1))
            continue
        header, pos = out[pos:end].split(), end + 1
        if len(header) != 3 or not header[2].isdigit():
            results.append(("", None, MAX_BLOB + 1))  # "<name> missing", "ambiguous"
            continue
        size = int(header[2])
        data = None
        if mode == "--batch":
            data, pos = out[pos : pos + size], pos + size + 1
        blob = header[1] == b"blob"
        results.append((header[0].decode("ascii", "replace"), data if blob else None, size))
    return results


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
        text=True,
        env=_env(),
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


def list_tree(root: Path, commit: str, folder: str, max_entries: int) -> list[TreeEntry] | None:
    """Every entry below `folder` in `commit`'s tree, recursively, paths relative to the
    folder; None when there are more than `max_entries` (a history may hold anything)."""
    prefix = folder.strip("/") + "/"
    out = run(root, "--literal-pathspecs", "ls-tree", "-r", "-l", "-z", commit, "--", prefix)
    entries: list[TreeEntry] = []
    for record in out.split("\0"):
        if not record:
            continue
        if len(entries) >= max_entries:
            return None
        info, _, path = record.partition("\t")
        parts = info.split()
        if len(parts) != 4 or not path.startswith(prefix):
            continue
        mode, kind, oid, size = parts
        size_or_none = int(size) if size.isdigit() else None
        entries.append(TreeEntry(mode, kind, oid, size_or_none, path[len(prefix) :]))
    return entries


def one_line(value: str) -> str:
    """Trailer values must stay on one line whatever a spec contains."""
    return " ".join(value.split())
