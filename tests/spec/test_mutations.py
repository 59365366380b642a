"""Random damage to the example repository's spec files never crashes `validate`.

Whatever a user (or a bad merge) does to a spec file, the tool answers with located errors and
exit 1, never with a traceback or exit 4. Mutations that certainly break a file (a required key
deleted, a value of the wrong shape) must give exit 1; mutations that may leave a file valid
(truncation, inserted bytes) must give 0 or 1.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.cli import run_cli
from tests.support.repos import EXAMPLE_REPO, copy_repo

SPEC_FILES = [
    "mlops.yaml",
    *sorted(
        p.relative_to(EXAMPLE_REPO).as_posix()
        for folder in ("models", "deployments", "rules", "retirements", "pipelines")
        for p in (EXAMPLE_REPO / folder).iterdir()
        if p.name.endswith((".yaml", ".yaml.j2"))
    ),
]
ORIGINAL = {rel: (EXAMPLE_REPO / rel).read_bytes() for rel in SPEC_FILES}
DATA = {rel: yaml.safe_load(ORIGINAL[rel]) for rel in SPEC_FILES}

REQUIRED_KEYS = {
    "apiVersion", "kind", "metadata", "name", "task", "versions", "version", "artifact",
    "format", "model", "stage", "deployment", "triggers", "actions", "type", "retirement_date",
    "replacement", "data_sources", "trainer", "entrypoint", "uri",
    "channel", "metric", "below", "share_above", "p99_ms_above", "above", "records",
    "days_before", "columns", "traffic",
}  # fmt: skip
"""Keys whose removal breaks the object wherever they occur in the example repository."""
FREE_FORM = {"values", "hyperparameters", "lineage"}
"""Mappings whose entries may hold anything: a value of another shape there is still valid."""
LOCATED = re.compile(r"^(mlops\.yaml|[a-z]+/[^:\s]+):\d+(:\d+)?: ", re.MULTILINE)

SETTINGS = settings(
    max_examples=45,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy for the whole module; each example restores the file it damaged."""
    return copy_repo(EXAMPLE_REPO, tmp_path_factory.mktemp("mutations") / "repo", data=False)


def _validate(repo: Path, rel: str, data: bytes) -> tuple[int, str]:
    target = repo / rel
    target.write_bytes(data)
    try:
        run = run_cli("--repo", repo, "validate")
    finally:
        target.write_bytes(ORIGINAL[rel])
    return run.code, run.seen


def _check(code: int, seen: str, *, must_fail: bool) -> None:
    assert "Traceback" not in seen and "internal error" not in seen, seen
    assert code in ((1,) if must_fail else (0, 1)), seen
    if code == 1:
        assert LOCATED.search(seen), f"no path:line error in:\n{seen}"


def _nodes(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) below the root, leaving out the insides of free-form mappings."""
    if path and path[-1] in FREE_FORM:
        return
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        yield (*path, key), value
        if isinstance(value, dict | list):
            yield from _nodes(value, (*path, key))


def _replace(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    copy = yaml.safe_load(yaml.safe_dump(data))
    parent = copy
    for part in path[:-1]:
        parent = parent[part]
    if value is _DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return copy


_DELETE = object()

scalars = st.one_of(
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=20),
)
non_empty_scalars = st.one_of(st.integers(), st.floats(), st.booleans(), st.text(min_size=1))
lists = st.lists(scalars, max_size=3)
dicts = st.dictionaries(st.text(min_size=1, max_size=8), scalars, max_size=3)


def _wrong_shape(value: Any) -> st.SearchStrategy[Any]:
    """A value no field typed like `value` accepts: another shape, and never null."""
    if isinstance(value, dict):
        return st.one_of(lists, non_empty_scalars)
    if isinstance(value, list):
        return st.one_of(dicts, non_empty_scalars)
    return st.one_of(lists, dicts)


@SETTINGS
@given(data=st.data(), rel=st.sampled_from(SPEC_FILES))
def test_deleting_a_required_key(repo: Path, data: st.DataObject, rel: str) -> None:
    candidates = [
        path
        for path, _ in _nodes(DATA[rel])
        if isinstance(path[-1], str) and path[-1] in REQUIRED_KEYS
    ]
    path = data.draw(st.sampled_from(candidates), label="deleted")
    mutated = yaml.safe_dump(_replace(DATA[rel], path, _DELETE), sort_keys=False)
    _check(*_validate(repo, rel, mutated.encode()), must_fail=True)


@SETTINGS
@given(data=st.data(), rel=st.sampled_from(SPEC_FILES))
def test_value_of_the_wrong_shape(repo: Path, data: st.DataObject, rel: str) -> None:
    path, old = data.draw(st.sampled_from(list(_nodes(DATA[rel]))), label="replaced")
    new = data.draw(_wrong_shape(old), label="new value")
    mutated = yaml.safe_dump(_replace(DATA[rel], path, new), sort_keys=False)
    _check(*_validate(repo, rel, mutated.encode()), must_fail=True)


@SETTINGS
@given(data=st.data(), rel=st.sampled_from(SPEC_FILES))
def test_truncated_file(repo: Path, data: st.DataObject, rel: str) -> None:
    original = ORIGINAL[rel]
    cut = data.draw(st.integers(0, len(original) - 1), label="cut at")
    code, seen = _validate(repo, rel, original[:cut])
    _check(code, seen, must_fail=False)
    if cut < original.index(b"\nspec:"):
        # the object's spec is gone entirely: every kind needs one, or (the Project) its values
        assert code == 1, seen


@SETTINGS
@given(
    data=st.data(),
    rel=st.sampled_from(SPEC_FILES),
    junk=st.binary(min_size=1, max_size=12),
)
def test_inserted_random_bytes(repo: Path, data: st.DataObject, rel: str, junk: bytes) -> None:
    original = ORIGINAL[rel]
    at = data.draw(st.integers(0, len(original)), label="insert at")
    _check(*_validate(repo, rel, original[:at] + junk + original[at:]), must_fail=False)


def test_the_unmutated_copy_is_valid(repo: Path) -> None:
    """The properties above would be vacuous if the copy were broken to begin with."""
    rel = SPEC_FILES[-1]
    code, seen = _validate(repo, rel, ORIGINAL[rel])
    assert code == 0, seen


def test_a_known_mutation_is_caught(repo: Path) -> None:
    """The checker itself can see a failure: a deleted `stage` is reported at its parent."""
    rel = "deployments/cancer-prod.yaml"
    mutated = yaml.safe_dump(_replace(DATA[rel], ("spec", "stage"), _DELETE), sort_keys=False)
    code, seen = _validate(repo, rel, mutated.encode())
    assert code == 1
    assert re.search(r"^deployments/cancer-prod\.yaml:\d+:\d+: .*spec\.stage: required", seen, re.M)
