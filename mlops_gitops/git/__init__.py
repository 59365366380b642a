"""The only package that talks to git.

Every call passes user- or spec-derived values as plain arguments after `--` or through
stdin, never as options; commits skip hooks so a repository cannot run code through us.
`process` runs git within its output budget; `history` reads commits and their trailers;
`objects` reads trees and blobs.
"""

from __future__ import annotations

from mlops_gitops.git.history import (
    TRAILER_RE,
    CommitInfo,
    commit_before,
    head_trailers,
    last_change,
    log,
    resolve,
    trailer_log,
    verify_commit,
)
from mlops_gitops.git.objects import (
    MAX_BLOB,
    TreeEntry,
    blobs,
    list_tree,
    read_files,
    show,
    tree,
)
from mlops_gitops.git.process import (
    MAX_ERROR,
    MAX_OUTPUT,
    GitError,
    changed,
    commit,
    common_dir,
    head,
    is_repo,
    one_line,
    parse_author,
    record,
    run,
    tracked,
)

__all__ = [
    "MAX_BLOB",
    "MAX_ERROR",
    "MAX_OUTPUT",
    "TRAILER_RE",
    "CommitInfo",
    "GitError",
    "TreeEntry",
    "blobs",
    "changed",
    "commit",
    "commit_before",
    "common_dir",
    "head",
    "head_trailers",
    "is_repo",
    "last_change",
    "list_tree",
    "log",
    "one_line",
    "parse_author",
    "read_files",
    "record",
    "resolve",
    "run",
    "show",
    "tracked",
    "trailer_log",
    "tree",
    "verify_commit",
]
