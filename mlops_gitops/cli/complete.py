"""Shell completion through argcomplete: options and commands from the parser, and the names
of deployments, models, rules and pipelines read from the repository.

Only imported when a shell asks for completions (argcomplete sets `_ARGCOMPLETE`), so normal
runs pay nothing. Names are read with a quick scan of the spec files (a full load would make
every TAB wait for validation of the whole repository).
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops_gitops.cli.base import find_repo

FOLDERS = {
    "Deployment": "deployments",
    "Model": "models",
    "Rule": "rules",
    "TrainingPipeline": "pipelines",
}
_KIND = re.compile(r"^kind:\s*['\"]?(\w+)", re.MULTILINE)
_NAME = re.compile(r"^\s+name:\s*['\"]?([a-z0-9][a-z0-9-]{0,62})['\"]?\s*(?:#.*)?$", re.MULTILINE)
SCAN_LIMIT = 64 * 1024
"""Bytes read from the head of each file: metadata comes first."""


def spec_names(repo: Path, kind: str) -> list[str]:
    """Names of the objects of `kind` in the repository's usual folder for that kind."""
    folder = repo / FOLDERS[kind]
    found = set()
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    for entry in entries:
        if entry.name.startswith(".") or not re.search(r"\.ya?ml(\.j2)?$", entry.name):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            with open(entry.path, encoding="utf-8", errors="replace") as handle:
                head = handle.read(SCAN_LIMIT)
        except OSError:
            continue
        kinds = _KIND.findall(head)
        names = _NAME.findall(head)
        if kinds and kinds[0] == kind and names:
            found.add(names[0])
    return sorted(found)


def names(kind: str) -> Callable[..., list[str]]:
    """An argcomplete completer offering the names of `kind`."""

    def complete(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
        repo = Path(find_repo(getattr(parsed_args, "repo", None)))
        return [n for n in spec_names(repo, kind) if n.startswith(prefix)]

    return complete


def hook(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request and exit, when there is one."""
    import argcomplete

    argcomplete.autocomplete(parser)


def shellcode(shell: str) -> str:
    from argcomplete.shell_integration import shellcode as script

    return str(script(["mlops-gitops"], shell=shell))
