"""Which commit brought a spec file or a model version to what it is: read from git history.

The history names the people (and the automation) behind each change, and the signing
policy checks the commits that changed what production runs. Files read from history are
attacker input like the work tree's: a bounded number of commits, blobs of bounded size, and
the YAML budgets of the loader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops_gitops import git
from mlops_gitops.spec.yamlsource import YamlProblem, parse

MAX_COMMITS = 500
"""How far back a version entry is looked for in one file's history."""


class Provenance:
    """Answers about one repository, remembered: the history asks the same ones often."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._changes: dict[tuple[str, str], str | None] = {}
        self._added: dict[tuple[str, str, str], str | None] = {}

    def last_change(self, commit: str, path: str) -> str | None:
        """The newest commit at or before `commit` that changed `path`."""
        key = (commit, path)
        if key not in self._changes:
            self._changes[key] = git.last_change(self.root, commit, path)
        return self._changes[key]

    def version_added(self, commit: str, path: str, version: str) -> str | None:
        """The commit at or before `commit` since which the model file `path` has listed
        `version` without a break; None when the file does not list it at `commit` or its
        history cannot be read (a template, a file too large, history too long)."""
        key = (commit, path, version)
        if key not in self._added:
            self._added[key] = self._version_added(commit, path, version)
        return self._added[key]

    def _version_added(self, commit: str, path: str, version: str) -> str | None:
        out = git.run(
            self.root,
            "log",
            "--format=%H",
            f"--max-count={MAX_COMMITS + 1}",
            "--end-of-options",
            commit,
            "--",
            path,
            check=False,
        )
        shas = out.split()
        if not shas or path.endswith(".j2"):
            return None
        prefix = git.run(self.root, "rev-parse", "--show-prefix", check=False).strip()
        blobs = git.read_files(self.root, [f"{sha}:{prefix}{path}" for sha in shas])
        added = None
        for sha, data in zip(shas, blobs, strict=True):
            if data is None or version not in versions_listed(data):
                break
            added = sha
        else:
            if len(shas) > MAX_COMMITS:
                return None  # listed in every commit read: the first one was not reached
        return added


def versions_listed(data: bytes) -> set[str]:
    """The `spec.versions[].version` strings of a Model file's bytes; empty when unreadable."""
    try:
        document = parse(data.decode("utf-8"))
    except (UnicodeDecodeError, YamlProblem):
        return set()
    spec: Any = document.data.get("spec") if isinstance(document.data, dict) else None
    entries = spec.get("versions") if isinstance(spec, dict) else None
    if not isinstance(entries, list):
        return set()
    return {
        str(entry["version"])
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("version"), str | int | float)
    }
