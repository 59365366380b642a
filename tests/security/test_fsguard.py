"""The guarded writer on crafted trees: every way a path can lead elsewhere is refused.

Each case builds the trap with real files, links and FIFOs, asks for a write, append,
delete or rename, and checks the error and that the world outside the root is unchanged.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from mlops_gitops import fsguard
from tests.security.helpers import outside_victims, snapshot

Op = Callable[[Path, Path], object]
OPS: dict[str, Op] = {
    "write": lambda root, path: fsguard.write(root, path, b"payload\n"),
    "append": lambda root, path: fsguard.append(root, path, b"payload\n", header=b"# h\n"),
    "write_new": lambda root, path: fsguard.write_new(root, path, b"payload\n"),
    "remove": lambda root, path: fsguard.remove(root, path),
    "listdir": lambda root, path: fsguard.listdir(root, path),
    "sweep": lambda root, path: fsguard.sweep_temp_files(root, path, prefix="", suffix=""),
}


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "repo"
    (root / "reports" / "d").mkdir(parents=True)
    return root, outside_victims(tmp_path)


@pytest.mark.parametrize("op", sorted(OPS))
def test_a_symlinked_folder_on_the_way_is_refused(op: str, world: tuple[Path, Path]) -> None:
    root, victims = world
    (root / "reports" / "d" / "charts").symlink_to(victims)
    before = snapshot(victims)
    charts = root / "reports" / "d" / "charts"
    target = charts if op in ("listdir", "sweep") else charts / "old.svg"
    with pytest.raises(fsguard.UnsafePath, match=r"reports/d/charts is a symbolic link"):
        OPS[op](root, target)
    assert snapshot(victims) == before


@pytest.mark.parametrize("op", ["write", "append", "write_new"])
def test_a_symlinked_file_is_refused_even_when_dangling(
    op: str, world: tuple[Path, Path], tmp_path: Path
) -> None:
    root, victims = world
    for name, target in (("rc.md", victims / "bashrc"), ("new.md", tmp_path / "not-yet")):
        (root / name).symlink_to(target)
        before = snapshot(victims)
        with pytest.raises(fsguard.UnsafePath, match=re.escape(f"{name} is a symbolic link")):
            OPS[op](root, root / name)
        assert snapshot(victims) == before
        assert not (tmp_path / "not-yet").exists()


def test_removing_a_symlink_removes_the_link_never_its_target(world: tuple[Path, Path]) -> None:
    root, victims = world
    (root / "reports" / "d" / "x.svg").symlink_to(victims / "old.svg")
    before = snapshot(victims)
    assert fsguard.remove(root, root / "reports" / "d" / "x.svg")
    assert not os.path.lexists(root / "reports" / "d" / "x.svg")
    assert snapshot(victims) == before


def test_a_fifo_or_a_folder_is_not_appended_to_or_replaced(world: tuple[Path, Path]) -> None:
    root, _ = world
    os.mkfifo(root / "alerts.md")  # opening it for writing would block without a reader
    (root / "folder.md").mkdir()
    for name in ("alerts.md", "folder.md"):
        for op in ("append", "write"):
            with pytest.raises(fsguard.UnsafePath, match=re.escape(f"{name} is ")):
                OPS[op](root, root / name)
    with pytest.raises(fsguard.UnsafePath, match=r"folder\.md is a directory"):
        fsguard.remove(root, root / "folder.md")


@pytest.mark.parametrize("rel", ["../outside/bashrc", "reports/../../outside/bashrc", "/etc/x"])
def test_paths_that_leave_the_root_by_name_are_refused(rel: str, world: tuple[Path, Path]) -> None:
    root, victims = world
    before = snapshot(victims)
    path = Path(rel) if rel.startswith("/") else root / rel
    with pytest.raises(fsguard.UnsafePath, match="is outside"):
        fsguard.write(root, path, b"x")
    assert snapshot(victims) == before


def test_rename_never_lands_on_a_symlink(world: tuple[Path, Path]) -> None:
    root, victims = world
    (root / "a.jsonl").write_text("log\n")
    (root / "b.jsonl").symlink_to(victims / "notes.txt")
    before = snapshot(victims)
    with pytest.raises(fsguard.UnsafePath, match=r"b\.jsonl is a symbolic link"):
        fsguard.rename(root, root / "a.jsonl", root / "b.jsonl")
    assert (root / "a.jsonl").read_text() == "log\n"
    assert snapshot(victims) == before


def test_a_root_reached_through_a_symlink_is_the_users_choice(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    fsguard.write(tmp_path / "link", tmp_path / "link" / "a" / "b.json", b"{}\n")
    fsguard.write(tmp_path / "link", real / "a" / "c.json", b"[]\n")  # by its real name too
    assert (real / "a" / "b.json").read_bytes() == b"{}\n"
    assert (real / "a" / "c.json").read_bytes() == b"[]\n"


def test_writes_are_atomic_and_leave_no_temp_file(
    world: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = world
    path = root / "state" / "meta.json"
    fsguard.write(root, path, b"old\n")
    real_fsync = os.fsync

    def failing(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(OSError, match="No space"):
        fsguard.write(root, path, b"new\n")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert path.read_bytes() == b"old\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["meta.json"]


def test_relative_paths_are_taken_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fsguard.write(Path("out"), Path("out") / "manifest.json", b"{}\n")
    assert (tmp_path / "out" / "manifest.json").read_bytes() == b"{}\n"
    assert not (tmp_path / "out" / "out").exists()
