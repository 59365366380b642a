"""The recorded state on disk: one deterministic JSON file per object, written atomically."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mlops_gitops import fsguard
from mlops_gitops.errors import MlopsError
from mlops_gitops.gcpause import collector_paused
from mlops_gitops.safeio import MAX_JSON_BYTES, dump_bytes, read_json, read_regular
from mlops_gitops.spec.types import NAME_PATTERN
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
MAX_STATE_BYTES = MAX_JSON_BYTES
"""Budget of one state file; the depth budget is `safeio.MAX_JSON_DEPTH`."""
_NAME = re.compile(NAME_PATTERN)


def dumps(data: Any) -> bytes:
    """Sorted keys, two-space indent, trailing newline: readable, stable git diffs."""
    return dump_bytes(data)


def _detail(exc: Exception) -> str:
    """What is wrong, without echoing the file's content back (it may be anything)."""
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_url=False, include_input=False)
        parts = [f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in errors[:3]]
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        return "; ".join(parts) + more
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"it {text}" if text.startswith("is ") else text


class StateStore:
    """Reads and writes the state folder (`spec.state_dir`, default `.mlops/state`)."""

    def __init__(self, root: Path, top: Path | None = None) -> None:
        self.root = root
        self.top = top or root
        """The folder no write may leave or reach through a symlink: the repository."""

    def path_of(self, folder: str, name: str) -> Path:
        if not _NAME.fullmatch(name):  # never a path: `../x` must not leave the state folder
            raise MlopsError(f"{name!r} is not a valid object name; no state file is named so")
        return self.root / folder / f"{name}.json"

    def _read(self, path: Path, model: type[R]) -> R:
        try:
            data = read_json(path, MAX_STATE_BYTES)
            if not isinstance(data, dict):
                raise ValueError(f"holds a JSON {type(data).__name__}, not an object")
            record = model.model_validate(migrate(data))
        except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            raise _unreadable(path, _detail(exc)) from None
        except (TypeError, AttributeError, KeyError) as exc:  # an old layout, badly damaged
            raise _unreadable(path, f"not a state record ({type(exc).__name__})") from None
        return _named(path, record)

    def _read_fast(self, path: str, model: type[R]) -> R:
        """One pass from bytes to record for files of the current schema (10x faster);
        anything else, including every kind of damage, goes the way of `_read`."""
        try:
            record = model.model_validate_json(read_regular(path, MAX_STATE_BYTES))
        except (OSError, ValueError):
            return self._read(Path(path), model)
        version = getattr(record, "schema_version", None)
        if version != SCHEMA_VERSION or "schema_version" not in record.model_fields_set:
            return self._read(Path(path), model)  # an older file: `migrate` upgrades it
        return _named(path, record)

    def _json_files(self, folder: str) -> list[str]:
        """Like `sorted(glob("*.json"))`, without pathlib's cost per name."""
        top = str(self.root / folder)
        try:
            names = sorted(name for name in os.listdir(top) if name.endswith(".json"))
        except OSError:
            return []
        return [os.path.join(top, name) for name in names]

    def load(self) -> StateView:
        with collector_paused() as pause:
            view = self._load()
            pause.freeze = len(view.models) + len(view.deployments) >= 1000
            return view

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
        return self._read(path, model) if os.path.lexists(path) else None

    def write(self, folder: str, name: str, record: BaseModel) -> bool:
        """Write a record if its content changed; returns whether it did."""
        path = self.path_of(folder, name)
        data = dumps(record.model_dump(mode="json"))
        try:
            if read_regular(path, MAX_STATE_BYTES) == data:
                return False
        except (OSError, ValueError):
            pass  # missing or not a plain file: the guarded write replaces it or refuses
        fsguard.write(self.top, path, data)
        return True

    def bump(
        self,
        view: StateView,
        spec_commit: str | None,
        now: str,
        serial: int | None = None,
        spec_dirty: bool = False,
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
            spec_dirty=spec_dirty,
        )
        data = meta.model_dump(mode="json")
        if not spec_dirty:
            del data["spec_dirty"]  # clean applies keep the layout they always had
        fsguard.write(self.top, self.root / META_FILE, dumps(data))
        return meta


def _unreadable(path: Path | str, detail: str) -> MlopsError:
    return MlopsError(
        f"recorded state file {path} is unreadable: {detail}",
        hint="restore it from git history (git checkout -- <file>); state is derived "
        "from the specs and can be rebuilt by apply",
    )


def _named(path: Path | str, record: R) -> R:
    """A record lives in the file named after it: a forged name is never used as a path."""
    name = getattr(record, "name", None)
    if name is not None and os.path.basename(path) != f"{name}.json":
        raise _unreadable(
            path,
            f"it records {getattr(record, 'kind', 'an object')} {name!r}, but a state file "
            "is named after the object it records",
        )
    return record
