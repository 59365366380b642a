"""Recorded state is repository content: a forged or damaged state file is a clear error.

Every case is a state file as an attacker would commit it (or as a crash or a bad merge
would leave it); `plan` and `apply` must name the file, exit 1 and change nothing. Before
the state was validated on load, a record named `../../../outside-victim` made `apply`
delete a file outside the repository, and several of these inputs were internal errors.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops.errors import MlopsError
from mlops_gitops.state.records import DeploymentRecord
from mlops_gitops.state.store import MAX_STATE_BYTES, StateStore
from tests.support.cli import run_in
from tests.support.git import commit_all, git, init_git
from tests.support.repos import KSERVE_PROJECT, SpecRepo, copy_repo, onnx_artifact

STATE = ".mlops/state"
DEPLOYMENT = f"{STATE}/deployments/alpha-prod.json"
MODEL = f"{STATE}/models/alpha.json"
META = f"{STATE}/meta.json"


@pytest.fixture(scope="module")
def applied_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository whose one deployment (rendered for KServe) has been applied; prune on."""
    repo = SpecRepo(tmp_path_factory.mktemp("applied") / "repo")
    repo.write_project(prune=True, targets=KSERVE_PROJECT["targets"])
    repo.write_model("alpha", [onnx_artifact(repo, "alpha", "1.0.0")])
    repo.write_deployment(
        "alpha-prod",
        {"model": "alpha", "stage": "production", "target": "kserve", "version": "1.0.0"},
    )
    init_git(repo.root)
    done = run_in(repo.root, "apply")
    assert done.code == 0, done.seen
    return repo.root


@pytest.fixture
def applied(applied_template: Path, tmp_path: Path) -> Path:
    """This test's copy of `applied_template` at tmp_path/repo, to damage as it likes."""
    return copy_repo(applied_template, tmp_path / "repo")


def _load(repo: Path, rel: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((repo / rel).read_text())
    return data


def test_a_record_named_to_climb_out_of_the_repository_deletes_nothing(
    applied: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "outside-victim.yaml"  # where rendered/kserve/../../../ leads
    victim.write_text("precious\n")
    record = _load(applied, DEPLOYMENT) | {"name": "../../../outside-victim"}
    (applied / STATE / "deployments" / "evil.json").write_text(json.dumps(record))
    (applied / "outside-victim.json").write_text(json.dumps(record))  # what a lookup would read
    commit_all(applied, "a pull request that adds a forged state record")
    head = git(applied, "rev-parse", "HEAD")
    for command in ("plan", "apply"):
        done = run_in(applied, command)
        assert done.code == 1, done.seen
        assert f"{STATE}/deployments/evil.json is unreadable" in done.err
        assert "name" in done.err
    assert victim.read_text() == "precious\n"
    assert git(applied, "rev-parse", "HEAD") == head  # nothing applied or committed


def _edit(rel: str, change: Callable[[dict[str, Any]], object]) -> Callable[[Path], None]:
    def apply(repo: Path) -> None:
        data = _load(repo, rel)
        change(data)
        (repo / rel).write_text(json.dumps(data))

    return apply


def _raw(rel: str, text: str) -> Callable[[Path], None]:
    def write(repo: Path) -> None:
        (repo / rel).write_text(text)

    return write


def _replace(rel: str, old: str, new: str) -> Callable[[Path], None]:
    def write(repo: Path) -> None:
        (repo / rel).write_text((repo / rel).read_text().replace(old, new))

    return write


def _renamed(repo: Path) -> None:
    (repo / STATE / "deployments" / "other.json").write_text((repo / DEPLOYMENT).read_text())


def _padded(repo: Path) -> None:
    """A valid record followed by whitespace up to one byte over the budget."""
    text = (repo / DEPLOYMENT).read_text()
    (repo / DEPLOYMENT).write_text(text + " " * (MAX_STATE_BYTES + 1 - len(text.encode())))


def _deep_settings(data: dict[str, Any]) -> None:
    nested: Any = 1
    for _ in range(30):
        nested = {"a": nested}
    data["settings"]["extra"] = nested


def _fifo(repo: Path) -> None:
    (repo / DEPLOYMENT).unlink()
    os.mkfifo(repo / DEPLOYMENT)


def _symlink(repo: Path) -> None:
    (repo / DEPLOYMENT).unlink()
    (repo / DEPLOYMENT).symlink_to("/etc/hostname")


def _version(data: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = data["versions"]["1.0.0"]
    return entry


DEEP = "[" * 100_000 + "]" * 100_000

CASES: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "record in a file of another name": (
        f"{STATE}/deployments/other.json",
        _renamed,
        "it records Deployment 'alpha-prod', but a state file is named after the object",
    ),
    "schema_version null": (
        DEPLOYMENT,
        _edit(DEPLOYMENT, lambda d: d.update(schema_version=None)),
        "schema_version must be a positive integer, not None",
    ),
    "meta schema_version null": (
        META,
        _edit(META, lambda d: d.update(schema_version=None)),
        "schema_version must be a positive integer, not None",
    ),
    "100,000 levels of nesting": (DEPLOYMENT, _raw(DEPLOYMENT, DEEP), "nested deeper than"),
    "100,000 levels of nesting in meta.json": (META, _raw(META, DEEP), "nested deeper than"),
    "nested values inside a record": (
        DEPLOYMENT,
        _edit(DEPLOYMENT, _deep_settings),
        "settings: Value error, nested deeper than 16 levels",
    ),
    "a JSON list": (DEPLOYMENT, _raw(DEPLOYMENT, "[]"), "holds a JSON list, not an object"),
    "a JSON string": (MODEL, _raw(MODEL, '"alpha"'), "holds a JSON str, not an object"),
    "bare NaN metric": (
        MODEL,
        _replace(MODEL, '"metrics": {', '"metrics": {"x": NaN, '),
        "NaN is not a number JSON allows",
    ),
    "overflowing metric": (
        MODEL,
        _edit(MODEL, lambda d: _version(d)["metrics"].update(x=float("inf"))),
        "non-finite numbers are refused",
    ),
    "blob outside the store": (
        MODEL,
        _edit(MODEL, lambda d: _version(d).update(blob="sha256/../../../../etc/passwd")),
        "blob",
    ),
    "blob of other content": (
        MODEL,
        _edit(MODEL, lambda d: _version(d).update(blob="sha256/00/" + "0" * 62)),
        "is not the store location of its sha256",
    ),
    "version key that is a path": (
        MODEL,
        _edit(MODEL, lambda d: d["versions"].update({"../x": _version(d)})),
        "version entry '../x' records version '1.0.0'",
    ),
    "time in the year 9999": (
        DEPLOYMENT,
        _edit(DEPLOYMENT, lambda d: d.update(updated_at="9999-12-31T23:59:59+00:00")),
        "year 9999 is out of range",
    ),
    "canary traffic over 100": (
        DEPLOYMENT,
        _edit(DEPLOYMENT, lambda d: d.update(canary={"version": "1.0.0", "traffic": 10**30})),
        "canary.traffic",
    ),
    "file over the size budget": (DEPLOYMENT, _padded, f"the limit is {MAX_STATE_BYTES} bytes"),
    "a FIFO": (DEPLOYMENT, _fifo, "it is a FIFO (named pipe), not a regular file"),
    "a symlink": (DEPLOYMENT, _symlink, "it is a symbolic link; refusing to follow it"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_damaged_or_forged_state_file_is_a_clear_error_naming_it(
    applied: Path, case: tuple[str, Callable[[Path], None], str]
) -> None:
    rel, damage, says = case
    damage(applied)
    before = {p: p.read_bytes() for p in (applied / STATE).rglob("*.json") if p.is_file()}
    for command in ("plan", "status", "apply"):
        done = run_in(applied, command)
        assert done.code == 1, (command, done.seen)
        assert f"{rel} is unreadable" in done.err, (command, done.err)
        assert says in done.err, (command, done.err)
        assert "internal error" not in done.seen
    after = {p: p.read_bytes() for p in (applied / STATE).rglob("*.json") if p.is_file()}
    assert after == before  # nothing rewritten, nothing dropped


@pytest.mark.parametrize("name", ["../../../outside-victim", "x\n", "X", "", "a/b", "a" * 64])
def test_a_state_path_is_never_built_from_an_invalid_name(tmp_path: Path, name: str) -> None:
    store = StateStore(tmp_path / STATE)
    with pytest.raises(MlopsError, match="is not a valid object name"):
        store.path_of("deployments", name)
    with pytest.raises(MlopsError):
        store.load_one("deployments", name, DeploymentRecord)
