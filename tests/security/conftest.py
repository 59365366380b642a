"""Attacker-built inputs: crafted files and repositories, checked end to end.

`deployed`, `repo` and `live` are the serving tests' applied example repository (built once
per session), a private copy of it and a live `mlops-gitops serve` on its own copy.
"""

from __future__ import annotations

from tests.serve.conftest import deployed, live, repo

__all__ = ["deployed", "live", "repo"]
