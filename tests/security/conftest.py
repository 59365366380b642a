"""Attacker-built inputs: crafted files and repositories, checked end to end."""

from __future__ import annotations

from tests.engine.conftest import RunCli, env, run

__all__ = ["RunCli", "env", "run"]
