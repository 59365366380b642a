"""The apply journal: each step's intent before it runs and its completion after.

An append-only JSON-lines file, synced after each record, so it costs the same per step
however long the plan is. After a crash the next apply reads it to finish the job, and the
final commit lists every completed step exactly once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from mlops_gitops import fsguard
from mlops_gitops.safeio import dumps, loads


@dataclass
class Journal:
    root: Path
    """The repository: the journal is never written or deleted through a symlink in it."""
    path: Path
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    meta_serial: int | None = None
    """The serial this apply bumped the state to, once it did."""
    started: str = ""
    inputs_sha256: str | None = None
    """The specs the interrupted apply worked from."""
    base_serial: int | None = None
    """The state serial before the apply; the apply bumps it to exactly base + 1."""
    _handle: BinaryIO | None = field(default=None, repr=False)

    @classmethod
    def open(cls, root: Path, path: Path, now: str) -> tuple[Journal, bool]:
        """The journal of an interrupted apply if there is one (and True), else a new one."""
        journal = cls(root=root, path=path, started=now)
        resumed = path.exists()
        if resumed:
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    record = loads(line)
                except ValueError:
                    continue  # a record torn by the crash: its step is simply redone
                journal._replay(record)
        return journal, resumed

    def _replay(self, record: dict[str, Any]) -> None:
        kind = record.get("record")
        if kind == "start":
            self.started = str(record.get("time", self.started))
            self.inputs_sha256 = record.get("inputs_sha256")
            self.base_serial = record.get("base_serial")
        elif kind == "step":
            entry = self.steps.setdefault(record["id"], {})
            entry.update({k: v for k, v in record.items() if k not in ("record", "id")})
        elif kind == "serial":
            self.meta_serial = int(record["serial"])

    def _append(self, record: dict[str, Any]) -> None:
        if self._handle is None:
            self._handle = fsguard.open_append(self.root, self.path)
            if os.fstat(self._handle.fileno()).st_size == 0:
                self._write(
                    {
                        "record": "start",
                        "time": self.started,
                        "inputs_sha256": self.inputs_sha256,
                        "base_serial": self.base_serial,
                    }
                )
        self._write(record)
        self._replay(record)

    def _write(self, record: dict[str, Any]) -> None:
        assert self._handle is not None
        self._handle.write((dumps(record, sort_keys=True) + "\n").encode())
        self._handle.flush()
        os.fdatasync(self._handle.fileno())

    def intend(self, step_id: str, trailer: str, reason: str) -> None:
        self._append(
            {
                "record": "step",
                "id": step_id,
                "state": "started",
                "trailer": trailer,
                "reason": reason,
            }
        )

    def done(self, step_id: str, state: str = "done", message: str = "") -> None:
        record = {"record": "step", "id": step_id, "state": state}
        if message:
            record["message"] = message
        self._append(record)

    def record_serial(self, serial: int) -> None:
        self._append({"record": "serial", "serial": serial})

    def settle(self, planned: set[str], inputs_sha256: str) -> list[str]:
        """Decide the fate of steps the crash interrupted.

        A started step the new plan no longer needs reached its commit point (its state
        record) before the crash: it is done. Only when the specs changed since is that
        uncertain; those steps are returned so the caller can warn.
        """
        unknown = []
        for step_id, entry in sorted(self.steps.items()):
            if entry.get("state") != "started" or step_id in planned:
                continue
            if self.inputs_sha256 in (None, inputs_sha256):
                self.done(step_id)
            else:
                unknown.append(step_id)
        return unknown

    def completed(self) -> list[dict[str, Any]]:
        return [entry for entry in self.steps.values() if entry.get("state") == "done"]

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        fsguard.remove(self.root, self.path)
