"""Root of the test suite: every test runs isolated (see tests/support/env.py); slow tests are
marked so `make test-fast` can leave them out; the example repositories most layers start from.

Helpers live in tests/support: `git`, `run_cli` / `run_process`, `assert_golden`, and the
repositories (`example_in_git`, `SpecRepo`, the corpus).
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tests.support")

from mlops_gitops import cli as tool_cli  # noqa: E402
from tests.support import cli  # noqa: E402
from tests.support.env import isolate  # noqa: E402
from tests.support.example import example_in_git  # noqa: E402
from tests.support.git import init_git  # noqa: E402
from tests.support.repos import copy_repo, engine_repo_v1  # noqa: E402
from tests.support.s3 import s3, s3_server  # noqa: E402, F401 - fixtures for every test
from tests.support.values import NOW  # noqa: E402

SLOW_FIXTURES = {
    "live",
    "hook",
    "deployed",
    "reconciled",
    "loop_template",
    "example_git",
    "dask_cluster",
}
"""A test using one of these (directly or through another fixture) is slow: they start a
server or processes, or work on example-repo's real models, whose scans, loads and training
take seconds.
Small repositories of safetensors artifacts (`SpecRepo`) are the fast way to the same code."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        hypothesis = getattr(getattr(item, "obj", None), "is_hypothesis_test", False)
        if hypothesis or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    cli.current_test = item


@pytest.fixture(scope="session", autouse=True)
def _interpreters_are_slow() -> Iterator[None]:
    """A test starting a Python process, through `run_process` or on its own, is marked slow."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(
            subprocess.Popen, "__init__", cli.guard_interpreters(subprocess.Popen.__init__)
        )
        yield


@pytest.fixture(scope="session", autouse=True)
def _one_parser() -> Iterator[None]:
    """`run_cli` parses with one parser per worker: building it (every command's arguments and
    their translated help) costs more than many of the commands it runs."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(tool_cli, "build_parser", functools.cache(tool_cli.build_parser))
        yield


@pytest.fixture(scope="session", autouse=True)
def _isolated_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The isolated environment for session and module fixtures too."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate(monkeypatch, tmp_path_factory.mktemp("home"))
        yield


@pytest.fixture(autouse=True)
def env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """This test's environment, also os.environ: HOME is tmp_path/home; with the mark
    `no_git_identity` git knows nobody, as on a CI runner."""
    identity = request.node.get_closest_marker("no_git_identity") is None
    return isolate(monkeypatch, tmp_path / "home", identity=identity)


@pytest.fixture
def engine_git(tmp_path: Path) -> Path:
    """`engine_repo_v1` (small models of safetensors artifacts) in git at tmp_path/repo."""
    root = tmp_path / "repo"
    engine_repo_v1(root)
    init_git(root)
    return root


@pytest.fixture
def example_git(tmp_path: Path) -> Path:
    """example-repo as shipped (policies, models and data) in git at tmp_path/repo."""
    return example_in_git(tmp_path / "repo")


@pytest.fixture(scope="session")
def loop_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return example_in_git(tmp_path_factory.mktemp("loop") / "repo", policies=False)


@pytest.fixture(scope="session")
def loop_applied_template(loop_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = copy_repo(loop_template, tmp_path_factory.mktemp("loop-applied") / "repo")
    cli.run_cli("--repo", repo, "apply", "--now", NOW, expect=0)
    return repo


@pytest.fixture
def loop_example(loop_template: Path, tmp_path: Path) -> Path:
    """example-repo in git (at tmp_path/repo) without the Project's policies, for tests of the
    reconcile loop: `min_time_in_stage` would need a clock that moves between applies."""
    return copy_repo(loop_template, tmp_path / "repo")


@pytest.fixture(autouse=True)
def user_cache_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Caches of repositories outside git go to the user's cache directory: a private one."""
    home = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


@pytest.fixture
def loop_applied(loop_applied_template: Path, tmp_path: Path) -> Path:
    """`loop_example` after its first apply (at NOW), committed."""
    return copy_repo(loop_applied_template, tmp_path / "repo")
