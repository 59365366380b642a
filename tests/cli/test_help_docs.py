"""docs/cli-reference.md shows each command's help exactly as the tool prints it."""

from __future__ import annotations

import importlib.util

from tests.support.repos import PROJECT


def test_every_help_block_in_the_cli_reference_is_current() -> None:
    spec = importlib.util.spec_from_file_location("sync", PROJECT / "scripts/sync_cli_help.py")
    assert spec is not None and spec.loader is not None
    sync = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sync)
    text = sync.DOC.read_text(encoding="utf-8")
    assert text.count("$ mlops-gitops") >= 17
    assert sync.synced(text) == text, "run: .venv/bin/python scripts/sync_cli_help.py"
