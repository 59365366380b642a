"""Rewrite every `$ mlops-gitops ... --help` block in docs/cli-reference.md with the real help.

Run after changing a command's arguments: `.venv/bin/python scripts/sync_cli_help.py`.
tests/cli/test_help_docs.py fails while the document and the tool disagree.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli-reference.md"
BLOCK = re.compile(r"^\$ mlops-gitops(?P<args>[^\n]*) --help\n(?P<body>.*?)^```", re.M | re.S)


def help_text(args: list[str]) -> str:
    """What `mlops-gitops ARGS --help` prints at 80 columns."""
    from mlops_gitops.cli import main

    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer), contextlib.suppress(SystemExit):
            main([*args, "--help"])
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    return buffer.getvalue()


def synced(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        args = match.group("args").split()
        return f"$ mlops-gitops{match.group('args')} --help\n{help_text(args)}```"

    return BLOCK.sub(replace, text)


def main() -> int:
    text = DOC.read_text(encoding="utf-8")
    new = synced(text)
    if "--check" in sys.argv:
        return 0 if new == text else 1
    DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
