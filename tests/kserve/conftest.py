"""The engine tests' isolated git environment and in-process CLI, for the kserve tests."""

from tests.engine.conftest import env, run

__all__ = ["env", "run"]
