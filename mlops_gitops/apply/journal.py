"""The apply journal: each step's intent before it runs and its completion after.

After a crash the next apply reads it to finish the job: completed steps are not redone,
and the final commit lists every step exactly once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_gitops.util import atomic_write


@dataclass
class Journal:
    path: Path
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    meta_serial: int | None = None
    """The serial this apply bumped the state to, once it did."""
    started: str = ""

    @classmethod
    def open(cls, path: Path, now: str) -> tuple[Journal, bool]:
        """The journal of an interrupted apply if there is one (and True), else a new one."""
        if path.exists():
            try:
                data = json.loads(path.read_text())
                return (
                    cls(
                        path=path,
                        steps=dict(data.get("steps", {})),
                        meta_serial=data.get("meta_serial"),
                        started=str(data.get("started", now)),
                    ),
                    True,
                )
            except (OSError, ValueError):
                pass  # a torn journal cannot be: writes are atomic; treat as absent
        journal = cls(path=path, started=now)
        return journal, False

    def save(self) -> None:
        data = {"started": self.started, "steps": self.steps, "meta_serial": self.meta_serial}
        atomic_write(self.path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())

    def intend(self, step_id: str, trailer: str, reason: str) -> None:
        self.steps[step_id] = {"state": "started", "trailer": trailer, "reason": reason}
        self.save()

    def done(self, step_id: str, state: str = "done", message: str = "") -> None:
        self.steps[step_id]["state"] = state
        if message:
            self.steps[step_id]["message"] = message
        self.save()

    def completed(self) -> list[dict[str, Any]]:
        return [entry for entry in self.steps.values() if entry["state"] == "done"]

    def is_done(self, step_id: str) -> bool:
        return self.steps.get(step_id, {}).get("state") == "done"

    def close(self) -> None:
        self.path.unlink(missing_ok=True)
