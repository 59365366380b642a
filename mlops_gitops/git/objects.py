"""Trees and blobs read from git's object store, within budgets."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mlops_gitops.git.process import GitError, git_environment, run


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
        env=git_environment(),
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


def show(root: Path, commit: str, path: str) -> str:
    return run(root, "show", f"{commit}:{path}")


MAX_BLOB = 1 << 20
"""Files read from history in one batch are small records; a larger one is not read."""


def read_files(root: Path, names: list[str], max_bytes: int = MAX_BLOB) -> list[bytes | None]:
    """The contents of `<rev>:<path>` names, in two git processes however many there are;
    None for a name that is no file there, or one larger than `max_bytes`."""
    usable = [n for n in names if "\n" not in n and "\r" not in n]
    # The blobs are then read by id: resolving `<rev>:<path>` again would read each commit
    # again, and an apply's commit can be large.
    wanted = {
        name: oid
        for name, (oid, kind, size) in zip(usable, _checked(root, usable), strict=True)
        if kind == "blob" and size <= max_bytes
    }
    found = dict(blobs(root, sorted(set(wanted.values()))))
    return [found.get(wanted.get(name, "")) for name in names]


def _checked(root: Path, names: list[str]) -> list[tuple[str, str, int]]:
    """(object id, type, size) per name from `git cat-file --batch-check`; ("", "", -1) for a
    name that names nothing (missing, ambiguous)."""
    if not names:
        return []
    done = subprocess.run(
        ["git", "-C", str(root), "cat-file", "--batch-check"],
        input="".join(f"{name}\n" for name in names).encode(),
        capture_output=True,
        env=git_environment(),
        check=False,
    )
    lines = done.stdout.decode("utf-8", "replace").split("\n")
    results = []
    for line in lines[: len(names)]:
        header = line.split()  # "<oid> <type> <size>", or "<name> missing"
        ok = len(header) == 3 and header[2].isdigit()
        results.append((header[0], header[1], int(header[2])) if ok else ("", "", -1))
    return results + [("", "", -1)] * (len(names) - len(results))


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
