"""Attacker-built regression tests share the automation tests' reconciled example repository."""

from tests.automation.conftest import env, reconcile, reconciled, repo  # noqa: F401
