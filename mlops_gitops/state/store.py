"""The recorded state on disk: one deterministic JSON file per object, written atomically."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import uuid
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mlops_gitops import fsguard
from mlops_gitops.errors import MlopsError
from mlops_gitops.state.records import (
    SCHEMA_VERSION,
    DeploymentRecord,
    Meta,
    ModelRecord,
    migrate,
)
from mlops_gitops.state.view import StateView

R = TypeVar("R", bound=BaseModel)
META_FILE = "meta.json"
FOLDERS = {"models": ModelRecord, "deployments": DeploymentRecord}


def dumps(data: Any) -> bytes:
    """Sorted keys, two-space indent, trailing newline: readable, stable git diffs."""
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


class StateStore:
    """Reads and writes the state folder (`spec.state_dir`, default `.mlops/state`)."""

    def __init__(self, root: Path, top: Path | None = None) -> None:
        self.root = root
        self.top = top or root
        """The folder no write may leave or reach through a symlink: the repository."""

    def path_of(self, folder: str, name: str) -> Path:
        return self.root / folder / f"{name}.json"

    def _read(self, path: Path, model: type[R]) -> R:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return model.model_validate(migrate(data))
        except (OSError, ValueError, ValidationError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise MlopsError(
                f"recorded state file {path} is unreadable: {detail}",
                hint="restore it from git history (git checkout -- <file>); state is derived "
                "from the specs and can be rebuilt by apply",
            ) from None

    def _read_fast(self, path: str, model: type[R]) -> R:
        """One pass from bytes to record for files of the current schema (10x faster);
        anything else, including every kind of damage, goes the way of `_read`."""
        try:
            with open(path, "rb", buffering=0) as handle:  # unbuffered: 3 syscalls fewer
                record = model.model_validate_json(handle.read())
        except (OSError, ValueError):
            return self._read(Path(path), model)
        version = getattr(record, "schema_version", None)
        if version != SCHEMA_VERSION or "schema_version" not in record.model_fields_set:
            return self._read(Path(path), model)  # an older file: `migrate` upgrades it
        return record

    def _json_files(self, folder: str) -> list[str]:
        """Like `sorted(glob("*.json"))`, without pathlib's cost per name."""
        top = str(self.root / folder)
        try:
            names = sorted(name for name in os.listdir(top) if name.endswith(".json"))
        except OSError:
            return []
        return [os.path.join(top, name) for name in names]

    def load(self) -> StateView:
        # Reading makes many acyclic objects; collecting cycles meanwhile only costs time.
        enabled = gc.isenabled()
        gc.disable()
        view = None
        try:
            view = self._load()
            return view
        finally:
            if enabled:
                if view is not None and len(view.models) + len(view.deployments) >= 1000:
                    # A large state lives as long as the command: spare later collections
                    # walking it again and again. Frozen objects are still freed by
                    # reference counting, and records hold no cycles.
                    gc.freeze()
                gc.enable()

    def _load(self) -> StateView:
        meta_path = self.root / META_FILE
        meta = self._read(meta_path, Meta) if meta_path.exists() else None
        models: dict[str, ModelRecord] = {}
        deployments: dict[str, DeploymentRecord] = {}
        for path in self._json_files("models"):
            record = self._read_fast(path, ModelRecord)
            models[record.name] = record
        for path in self._json_files("deployments"):
            deployment = self._read_fast(path, DeploymentRecord)
            deployments[deployment.name] = deployment
        return StateView(models=models, deployments=deployments, meta=meta)

    def load_one(self, folder: str, name: str, model: type[R]) -> R | None:
        path = self.path_of(folder, name)
        return self._read(path, model) if path.exists() else None

    def write(self, folder: str, name: str, record: BaseModel) -> bool:
        """Write a record if its content changed; returns whether it did."""
        path = self.path_of(folder, name)
        data = dumps(record.model_dump(mode="json"))
        with contextlib.suppress(OSError):
            if not path.is_symlink() and path.read_bytes() == data:
                return False
        fsguard.write(self.top, path, data)
        return True

    def bump(
        self, view: StateView, spec_commit: str | None, now: str, serial: int | None = None
    ) -> Meta:
        """Increase the serial once per apply that changed anything; make the lineage once.

        `serial` pins the new value, so an apply resumed after a crash between this write
        and its journal's note of it does not count twice.
        """
        meta = Meta(
            lineage=view.lineage or str(uuid.uuid4()),
            serial=view.serial + 1 if serial is None else serial,
            spec_commit=spec_commit,
            updated_at=now,
        )
        fsguard.write(self.top, self.root / META_FILE, dumps(meta.model_dump(mode="json")))
        return meta
