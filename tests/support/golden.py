"""Golden files: what a user sees, checked in; `UPDATE_GOLDEN=1` rewrites them for review."""

from __future__ import annotations

import os
import re
from pathlib import Path

_SHA = re.compile(r"\b[0-9a-f]{40}\b")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def assert_golden(path: Path, actual: str) -> None:
    """`actual` equals the golden file at `path` (with UPDATE_GOLDEN=1: becomes it)."""
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path} is missing; run with UPDATE_GOLDEN=1 and review it"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{path} differs (UPDATE_GOLDEN=1 rewrites it; review the diff)"


def normalize(text: str, tmp_path: Path) -> str:
    """Text free of what changes from run to run: `tmp_path/repo` becomes <repo>, the rest of
    `tmp_path` <tmp>, commit shas <commit> and UUIDs (state lineages) <lineage>."""
    for real in {str(tmp_path.resolve()), str(tmp_path)}:
        text = text.replace(real + "/repo", "<repo>").replace(real, "<tmp>")
    text = _SHA.sub("<commit>", text)
    return _UUID.sub("<lineage>", text)
