"""Fails naming every function over MAX_FUNCTION_LINES lines and every module over
MAX_MODULE_LINES lines under the given folders (default: mlops_gitops). Run by `make lint`.

A function's lines run from its `def` to its last line, docstring and comments included:
what a reader has to hold in their head at once.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 500

KNOWN: dict[str, str] = {}
"""Offenders waiting for their module's rework (path:function -> why). An entry that no longer
offends is reported too, so the list only shrinks."""


def oversized(path: Path) -> Iterator[tuple[str, str]]:
    """(key, message) for the module and each function of `path` that is too long."""
    text = path.read_text(encoding="utf-8")
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        yield path.as_posix(), f"{path}: {lines} lines (at most {MAX_MODULE_LINES})"
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                yield (
                    f"{path.as_posix()}:{node.name}",
                    f"{path}:{node.lineno}: function {node.name} is {length} lines"
                    f" (at most {MAX_FUNCTION_LINES})",
                )


def problems(folders: list[Path], known: dict[str, str]) -> list[str]:
    found = {
        key: message
        for folder in folders
        for path in sorted(folder.rglob("*.py") if folder.is_dir() else [folder])
        for key, message in oversized(path)
    }
    out = [message for key, message in found.items() if key not in known]
    checked = [folder.as_posix().rstrip("/") for folder in folders]
    out += [
        f"{key}: no longer too long; remove it from KNOWN in tools/sizes.py"
        for key in sorted(known)
        if key not in found and any(key.startswith(folder + "/") for folder in checked)
    ]
    return out


def main(argv: list[str]) -> int:
    found = problems([Path(arg) for arg in argv] or [Path("mlops_gitops")], KNOWN)
    for problem in found:
        print(problem)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
