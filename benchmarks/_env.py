"""The environment benchmark children run in."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def child_env(**extra: str) -> dict[str, str]:
    """os.environ with bytecode caching on, as an installed package has it.

    Some environments set PYTHONDONTWRITEBYTECODE, which would make every child compile the
    package from source (~0.2 s a process): a cost no installed copy pays. The cache lives
    where `make test` keeps it, so the first run warms it for the rest.
    """
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(PROJECT / ".venv" / "pycache")
    env.update(GIT_CONFIG_NOSYSTEM="1", NO_COLOR="1")
    env.update(extra)
    return env
