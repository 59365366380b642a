"""Loading recorded state: the fast bulk read and the one-by-one read agree, on good files
and on damaged ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_gitops.errors import MlopsError
from mlops_gitops.state.records import SCHEMA_VERSION, ModelRecord
from mlops_gitops.state.store import StateStore, dumps


def test_state_files_read_fast_or_slow_give_the_same_records(tmp_path: Path) -> None:
    root = tmp_path / "state"
    record = {
        "kind": "Model",
        "name": "m",
        "schema_version": SCHEMA_VERSION,
        "task": "classification",
        "versions": {},
    }
    (root / "models").mkdir(parents=True)
    (root / "models" / "m.json").write_bytes(dumps(record))
    old = dict(record, schema_version=1, name="old")
    (root / "models" / "old.json").write_bytes(dumps(old))
    (root / "models" / "implicit.json").write_bytes(
        dumps({k: v for k, v in record.items() if k != "schema_version"} | {"name": "implicit"})
    )
    view = StateStore(root).load()
    assert sorted(view.models) == ["implicit", "m", "old"]
    assert {r.schema_version for r in view.models.values()} == {SCHEMA_VERSION}


@pytest.mark.parametrize(
    "content",
    [b"{", b"[]", b'{"kind": "Model"}', b"\xff\xfe", b'{"schema_version": 99, "name": "x"}'],
)
def test_damaged_state_files_are_reported_as_before(content: bytes, tmp_path: Path) -> None:
    root = tmp_path / "state"
    (root / "models").mkdir(parents=True)
    path = root / "models" / "m.json"
    path.write_bytes(content)
    store = StateStore(root)
    with pytest.raises(MlopsError) as slow:
        store._read(path, ModelRecord)
    with pytest.raises(MlopsError) as loaded:
        store.load()
    assert str(loaded.value) == str(slow.value)
