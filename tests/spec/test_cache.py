"""The parse cache, the artifact hash cache and the parallel parse never change a result.

Every test compares a run that may use a cache with the truth: the same files read afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops import api, fsguard
from mlops_gitops.errors import MlopsError, SpecError
from mlops_gitops.providers.facts import Inspector
from mlops_gitops.spec import cache as cache_mod
from mlops_gitops.spec import loader, parsehelper
from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.cache import HASH_FILE, PARSE_FILE, DerivedCache, HashCache
from mlops_gitops.workspace import Workspace
from tests.support.artifacts import onnx_bytes
from tests.support.cli import run_cli, run_process, spawn
from tests.support.corpus import CASES, CORPUS_BASE, CORPUS_CASES, NOT_A_REPOSITORY, build_case
from tests.support.git import git
from tests.support.golden import normalize
from tests.support.repos import copy_repo

PROJECT = "apiVersion: mlops-gitops/v1\nkind: Project\nmetadata: {name: cached}\n"
MODEL = """apiVersion: mlops-gitops/v1
kind: Model
metadata: {{name: {name}}}
spec:
  task: classification
  versions:
    - version: "{version}"
      artifact: artifacts/{name}.onnx
      format: onnx
      metrics: {{roc_auc: 0.9{digit}}}
"""


def model(name: str, version: str = "1.0.0", digit: int = 1) -> str:
    return MODEL.format(name=name, version=version, digit=digit)


def make_repo(root: Path, models: dict[str, str]) -> Path:
    (root / "models").mkdir(parents=True)
    (root / "mlops.yaml").write_text(PROJECT)
    for name, text in models.items():
        (root / "models" / name).write_text(text)
    return root


def summary(root: Path) -> dict[str, Any]:
    """Everything a run shows: each object in full, where it came from, and every problem."""
    result = api.validate(root)
    return {
        "objects": {
            f"{kind}/{name}": [loaded.source.path, loaded.obj.model_dump(mode="json")]
            for (kind, name), loaded in sorted(result.repository.objects.items())
        },
        "inputs": dict(result.repository.inputs),
        "problems": [p.to_json() for p in result.problems],
    }


def fresh(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    with monkeypatch.context() as patch:
        patch.setenv(cache_mod.DISABLE_ENV, "1")
        return summary(root)


def cache_file(root: Path, name: str) -> Path:
    where = cache_mod.place(root)
    assert where is not None
    return where.file(name)


def entries(root: Path) -> dict[str, Any]:
    raw = cache_file(root, PARSE_FILE).read_bytes()
    body: dict[str, Any] = json.loads(raw.partition(b"\n")[2])
    return body


class ParseCounter:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = loader.parse  # type: ignore[attr-defined]

        def counting(text: str) -> Any:
            self.count += 1
            return real(text)

        monkeypatch.setattr(loader, "parse", counting)


@pytest.fixture(autouse=True)
def cache_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cache_mod.DISABLE_ENV, raising=False)


# ---------------------------------------------------------------- parse cache


def test_unchanged_files_are_not_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "repo", {f"m{i}.yaml": model(f"m{i}") for i in range(3)})
    first = summary(repo)
    assert len(entries(repo)) == 4  # the Project and three models
    stamp = cache_file(repo, PARSE_FILE).stat().st_mtime_ns
    counter = ParseCounter(monkeypatch)
    assert summary(repo) == first
    assert counter.count == 0
    assert first == fresh(repo, monkeypatch)
    assert cache_file(repo, PARSE_FILE).stat().st_mtime_ns == stamp  # nothing to rewrite


def test_the_cache_lives_in_the_git_directory_not_the_work_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"m.yaml": model("m")})
    git(repo, "init", "-q")
    summary(repo)
    path = cache_file(repo, PARSE_FILE)
    assert path.is_relative_to((repo / ".git" / "mlops-gitops").resolve()) and path.exists()
    assert not (repo / ".mlops").exists()
    status = git(repo, "status", "--porcelain", "--untracked-files=all", "--ignored")
    assert ".mlops" not in status


def test_disabled_cache_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "repo", {"m.yaml": model("m")})
    fresh(repo, monkeypatch)
    assert not (repo / ".mlops").exists()
    assert not cache_file(repo, PARSE_FILE).parent.exists()


def test_an_edit_is_seen_even_with_the_same_size_and_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "repo", {"m.yaml": model("m", digit=1)})
    path = repo / "models" / "m.yaml"
    before = path.stat()
    summary(repo)
    path.write_text(model("m", digit=2))  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = summary(repo)
    assert after == fresh(repo, monkeypatch)
    versions = after["objects"]["Model/m"][1]["spec"]["versions"]
    assert versions[0]["metrics"] == {"roc_auc": 0.92}


def test_added_deleted_and_renamed_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "repo", {"a.yaml": model("a"), "b.yaml": model("b")})
    summary(repo)
    (repo / "models" / "c.yaml").write_text(model("c"))
    (repo / "models" / "a.yaml").unlink()
    (repo / "models" / "b.yaml").rename(repo / "models" / "renamed.yaml")
    result = summary(repo)
    assert result == fresh(repo, monkeypatch)
    assert sorted(result["objects"]) == ["Model/b", "Model/c"]
    assert result["objects"]["Model/b"][0] == "models/renamed.yaml"
    # entries of files that are gone are dropped, so the cache does not grow forever
    assert len(entries(repo)) == 3


def test_swapped_files_of_equal_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "repo", {"a.yaml": model("a"), "b.yaml": model("b")})
    summary(repo)
    a, b = repo / "models" / "a.yaml", repo / "models" / "b.yaml"
    a.rename(tmp_path / "swap")
    b.rename(a)
    (tmp_path / "swap").rename(b)
    result = summary(repo)
    assert result == fresh(repo, monkeypatch)
    assert result["objects"]["Model/a"][0] == "models/b.yaml"


def test_two_files_with_the_same_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "repo", {"a.yaml": model("a"), "b.yaml": model("a")})
    summary(repo)
    result = summary(repo)
    assert result == fresh(repo, monkeypatch)
    assert [p["message"] for p in result["problems"]] == [
        "Model 'a' is already defined in models/a.yaml:3"
    ]


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"\x00\xff garbage",
        b'{"format": "1"}\n{}',
        b"not json\n{}",
        "truncated",
        "wrong checksum",
        "entries of the wrong shape",
        "entries of another tool",
    ],
)
def test_a_damaged_cache_is_ignored_and_rebuilt(
    damage: bytes | str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "repo", {"a.yaml": model("a"), "b.yaml": "kind: [\n"})
    truth = fresh(repo, monkeypatch)
    assert summary(repo) == truth
    path = cache_file(repo, PARSE_FILE)
    raw = path.read_bytes()
    head, _, body = raw.partition(b"\n")
    if damage == "truncated":
        data = raw[: len(raw) // 2]
    elif damage == "wrong checksum":
        data = head + b"\n" + body.replace(b"0.91", b"0.99")
    elif damage == "entries of the wrong shape":
        shaped = {key: [3] if i % 2 else "x" for i, key in enumerate(json.loads(body))}
        new = json.dumps(shaped).encode()
        header = json.loads(head) | {"sha256": hashlib.sha256(new).hexdigest()}
        data = json.dumps(header).encode() + b"\n" + new
    elif damage == "entries of another tool":
        data = json.dumps(json.loads(head) | {"tool": "0" * 64}).encode() + b"\n" + body
    else:
        assert isinstance(damage, bytes)
        data = damage
    path.write_bytes(data)
    assert summary(repo) == truth
    assert summary(repo) == truth
    assert len(entries(repo)) == 2  # rebuilt: the Project and the valid model


def test_cached_entry_of_other_data_under_a_key_is_revalidated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cached data goes through the same typed checks as freshly parsed data."""
    repo = make_repo(tmp_path / "repo", {"a.yaml": model("a")})
    summary(repo)
    path = cache_file(repo, PARSE_FILE)
    head, _, body = path.read_bytes().partition(b"\n")
    stored = json.loads(body)
    key = hashlib.sha256((repo / "models" / "a.yaml").read_bytes()).hexdigest()
    stored[key][0]["spec"]["versions"][0]["version"] = 1.1  # what `version: 1.10` gives
    new = json.dumps(stored).encode()
    header = json.loads(head) | {"sha256": hashlib.sha256(new).hexdigest()}
    path.write_bytes(json.dumps(header).encode() + b"\n" + new)
    messages = [p["message"] for p in summary(repo)["problems"]]
    assert len(messages) == 1 and "Input should be a valid string" in messages[0]


def test_templates_are_rendered_again_when_values_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = copy_repo(CORPUS_BASE, tmp_path / "repo")
    first = summary(repo)
    labels = first["objects"]["Deployment/fraud-staging"][1]["metadata"]["labels"]
    assert labels == {"team": "risk", "region": "eu"}
    project = repo / "mlops.yaml"
    project.write_text(project.read_text().replace("region: eu", "region: us"))
    second = summary(repo)
    assert second == fresh(repo, monkeypatch)
    labels = second["objects"]["Deployment/fraud-staging"][1]["metadata"]["labels"]
    assert labels == {"team": "risk", "region": "us"}


def test_values_that_json_cannot_keep_are_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = model("a").replace("format: onnx\n", "format: onnx\n      created: 2026-01-10\n")
    repo = make_repo(tmp_path / "repo", {"a.yaml": text})
    truth = fresh(repo, monkeypatch)
    assert summary(repo) == truth
    assert summary(repo) == truth
    assert len(entries(repo)) == 1  # the Project only: a date is not a string


def test_read_only_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "repo", {"a.yaml": model("a")})
    monkeypatch.setattr(fsguard, "write", _refuse)
    assert summary(repo) == fresh(repo, monkeypatch)


def _refuse(root: Path, path: Path, data: bytes) -> None:
    raise PermissionError(13, "Permission denied", str(path))


@pytest.mark.slow  # the whole corpus again, six runs a case
@pytest.mark.parametrize("case", CASES)
def test_error_output_is_identical_with_a_warm_cache(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The corpus goldens, from a cold run, a run that fills the cache and one that uses it."""
    repo = build_case(case, tmp_path)
    golden = (CORPUS_CASES / case / "expected.txt").read_text(encoding="utf-8")
    formats = {"text": golden}
    if case not in NOT_A_REPOSITORY:
        formats["json"] = (CORPUS_CASES / case / "expected.json").read_text(encoding="utf-8")
    for _ in range(3):
        for fmt, expected in formats.items():
            run = run_cli("--repo", repo, "validate", "--format", fmt)
            assert normalize(run.out if fmt == "json" else run.seen, tmp_path) == expected


# ---------------------------------------------------------------- parallel parse


def test_a_helper_process_parses_many_files_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"m{i:03}.yaml": model(f"m{i:03}", digit=i % 10) for i in range(60)}
    files["bad-yaml.yaml"] = "kind: [\n"
    files["bad-field.yaml"] = model("bad").replace("task:", "tsak:")
    files["bad-utf8.yaml"] = "kind: Model\n"
    files["dated.yaml"] = model("dated").replace(
        "format: onnx\n", "format: onnx\n      created: 2026-01-10\n"
    )
    repo = make_repo(tmp_path / "repo", files)
    (repo / "models" / "bad-utf8.yaml").write_bytes(b"kind: Model\nmetadata: {name: \xff}\n")
    (repo / "models" / "t.yaml.j2").write_text(model("t{{ 1 + 1 }}"))
    truth = fresh(repo, monkeypatch)
    text = run_cli("--repo", repo, "validate")
    cache_file(repo, "").rename(tmp_path / "first")  # run without the cache written above

    spawned = []
    real = parsehelper._spawn_helper

    def spy(jobs: list[parsehelper.Job], values: dict[str, Any], budget: Any) -> Any:
        spawned.append(len(jobs))
        return real(jobs, values, budget)

    monkeypatch.setattr(parsehelper, "PARALLEL_MIN", 10)
    monkeypatch.setattr(parsehelper, "_spawn_helper", spy)
    monkeypatch.setattr(parsehelper, "_can_fork", lambda: True)
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    with monkeypatch.context() as patch:
        patch.setenv(cache_mod.DISABLE_ENV, "1")
        assert summary(repo) == truth  # the helper works without a cache too
    assert spawned and spawned[-1] >= 30
    assert summary(repo) == truth
    assert run_cli("--repo", repo, "validate") == text
    assert len(entries(repo)) == 63  # all but the two that do not parse and the dated one
    assert summary(repo) == truth


def test_a_failing_helper_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "repo", {f"m{i}.yaml": model(f"m{i}") for i in range(20)})
    truth = fresh(repo, monkeypatch)
    monkeypatch.setattr(parsehelper, "PARALLEL_MIN", 5)
    monkeypatch.setattr(parsehelper, "_can_fork", lambda: True)

    def broken(job: parsehelper.Job, values: dict[str, Any]) -> Any:
        raise RuntimeError("helper died")

    real = parsehelper._parse_job
    monkeypatch.setattr(parsehelper, "_parse_job", broken)  # only the helper calls it
    assert summary(repo) == truth
    monkeypatch.setattr(parsehelper, "_parse_job", real)
    assert summary(repo) == truth


@pytest.mark.slow
def test_concurrent_runs_leave_a_usable_cache(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {f"m{i}.yaml": model(f"m{i}") for i in range(30)})
    runs = [spawn("--repo", repo, "validate") for _ in range(4)]
    outputs = {run.communicate(timeout=120)[0] for run in runs}
    assert len(outputs) == 1 and all(run.returncode == 0 for run in runs)
    assert len(entries(repo)) == 31
    assert not [p for p in cache_file(repo, PARSE_FILE).parent.iterdir() if p.name.endswith(".tmp")]
    done = run_process("--repo", repo, "validate", expect=0)
    assert done.out in outputs


# ---------------------------------------------------------------- artifact hash cache


def plan_repo(root: Path, pinned: str | None = None) -> Path:
    make_repo(root, {"m.yaml": model("m")})
    if pinned:
        path = root / "models" / "m.yaml"
        text = path.read_text().replace(
            "format: onnx\n", f'format: onnx\n      sha256: "{pinned}"\n'
        )
        path.write_text(text)
    (root / "artifacts").mkdir()
    (root / "artifacts" / "m.onnx").write_bytes(onnx_bytes("model one"))
    return root


def facts(root: Path) -> dict[tuple[str, str], Any]:
    workspace = Workspace.open(api.load(root))
    return dict(workspace.facts(workspace.state_store.load()))


def age(path: Path, seconds: float = 60) -> None:
    """Make a file look written long ago, as a file checked out yesterday does."""
    old = time.time_ns() - int(seconds * 1e9)
    os.utime(path, ns=(old, old))


def shorten_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file's ctime cannot be set back: wait out a shorter window instead of 2 s."""
    monkeypatch.setattr(cache_mod, "RACY_NS", 50_000_000)
    time.sleep(0.1)


def test_hashes_of_unchanged_artifacts_are_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = plan_repo(tmp_path / "repo")
    shorten_racy_window(monkeypatch)
    first = facts(repo)
    assert cache_file(repo, HASH_FILE).exists()
    opened: list[str] = []
    real_open = open

    def spy(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spy)
    assert facts(repo) == first
    assert not [name for name in opened if name.endswith("m.onnx")]


def test_a_changed_artifact_is_hashed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = plan_repo(tmp_path / "repo")
    artifact = repo / "artifacts" / "m.onnx"
    age(artifact)
    shorten_racy_window(monkeypatch)
    before = artifact.stat()
    facts(repo)
    artifact.write_bytes(onnx_bytes("model two"))  # same size; the times are put back
    os.utime(artifact, ns=(before.st_atime_ns, before.st_mtime_ns))
    [fact] = facts(repo).values()
    assert fact.sha256 == hashlib.sha256(onnx_bytes("model two")).hexdigest()


def test_racy_files_are_not_remembered(tmp_path: Path) -> None:
    repo = plan_repo(tmp_path / "repo")  # just written: within the racy window
    facts(repo)
    assert not cache_file(repo, HASH_FILE).exists()


def test_a_cached_hash_contradicting_the_pinned_one_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = hashlib.sha256(onnx_bytes("model one")).hexdigest()
    repo = plan_repo(tmp_path / "repo", pinned=real)
    shorten_racy_window(monkeypatch)
    facts(repo)
    cache = HashCache.open(repo)
    [(path, entry)] = cache.entries.items()
    cache.seen = {path: [entry[0], "0" * 64]}  # a wrong hash with the right stat data
    cache.changed = True
    cache.save()
    [fact] = facts(repo).values()
    assert fact.sha256 == real
    workspace = Workspace.open(api.load(repo))
    assert [s.status for s in workspace.plan(workspace_now()).steps] == ["ready"]


def workspace_now() -> Any:
    from mlops_gitops.workspace import parse_now

    return parse_now("2026-03-01T12:00:00Z")


def test_a_damaged_hash_cache_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = plan_repo(tmp_path / "repo")
    shorten_racy_window(monkeypatch)
    first = facts(repo)
    cache_file(repo, HASH_FILE).write_bytes(b"\x00garbage")
    assert facts(repo) == first
    assert HashCache.open(repo).entries  # rebuilt


@pytest.mark.parametrize("link", ["artifacts", "artifacts/m.onnx"])
def test_symlinks_leaving_the_repository_are_refused_as_before(link: str, tmp_path: Path) -> None:
    """The quick inside-the-repository check agrees with `local_artifact_path`."""
    from mlops_gitops.providers.artifacts import local_artifact_path

    repo = plan_repo(tmp_path / "repo")
    outside = tmp_path / "outside"
    (repo / "artifacts").rename(outside)
    target = outside if link == "artifacts" else outside / "m.onnx"
    (repo / "artifacts").mkdir(exist_ok=link != "artifacts")
    if link == "artifacts":
        (repo / "artifacts").rmdir()
    (repo / link).symlink_to(target)
    with pytest.raises(SpecError) as invalid:  # validate refuses it first ...
        facts(repo)
    [problem] = invalid.value.problems
    assert (problem.path, problem.field) == ("models/m.yaml", "spec.versions[0].artifact")
    assert "leads outside the repository through a symlink" in problem.message
    with pytest.raises(MlopsError, match="leads outside the repository"):
        local_artifact_path("artifacts/m.onnx", repo)  # ... and opening it too
    inspector = Inspector(repo, spec_models.SecuritySettings(), HashCache(None))
    version = spec_models.ModelVersion(version="1.0.0", artifact="artifacts/m.onnx", format="onnx")
    fact = inspector.inspect(("m", "1.0.0"), version, set())
    assert fact.error is not None and "leads outside the repository" in fact.error
    # a symlink that stays inside is followed
    (repo / link).unlink()
    inner = repo / "store"
    (outside).rename(inner)
    (repo / link).symlink_to(inner if link == "artifacts" else inner / "m.onnx")
    [fact] = facts(repo).values()
    assert fact.exists and fact.sha256 == hashlib.sha256(onnx_bytes("model one")).hexdigest()


# ---------------------------------------------------------------- version digests


def steps(root: Path) -> list[tuple[str, str]]:
    workspace = Workspace.open(api.load(root))
    return [(s.action, s.id) for s in workspace.plan(workspace_now()).steps]


def test_version_digests_are_reused_and_an_edit_is_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_gitops.plan import digests
    from mlops_gitops.workspace import DIGEST_FILE

    repo = plan_repo(tmp_path / "repo")
    git(repo, "init", "-q")
    result = api.apply(repo, now="2026-03-01T12:00:00Z", commit=False)
    assert [s.action for s in result.plan.steps] == ["register"]
    assert steps(repo) == []
    assert cache_file(repo, DIGEST_FILE).exists()

    computed: list[str] = []
    real = digests.dumps  # type: ignore[attr-defined]

    def counting(data: Any, **kwargs: Any) -> str:
        computed.append("x")
        return real(data, **kwargs)

    monkeypatch.setattr(digests, "dumps", counting)
    assert steps(repo) == []
    assert computed == []  # every digest came from the cache

    path = repo / "models" / "m.yaml"
    path.write_text(path.read_text().replace("0.91", "0.97"))
    edited = steps(repo)
    assert edited == [("update", "update:Model/m@1.0.0")]
    assert computed, "the edited version's digest is computed afresh"
    with monkeypatch.context() as patch:
        patch.setenv(cache_mod.DISABLE_ENV, "1")
        assert steps(repo) == edited


def test_version_digests_of_other_code_are_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_gitops import workspace

    rule = tmp_path / "digest_rule.py"
    rule.write_text("# version 1\n")
    monkeypatch.setattr(workspace, "_DIGEST_SOURCES", (*workspace._DIGEST_SOURCES, rule))
    repo = plan_repo(tmp_path / "repo")
    git(repo, "init", "-q")
    api.apply(repo, now="2026-03-01T12:00:00Z", commit=False)
    cache = DerivedCache.open(repo, workspace.DIGEST_FILE, workspace._DIGEST_SOURCES)
    [key] = cache.stored
    cache.put(key, [["1.0.0", "0" * 64]])  # what another rule would have said
    cache.save()
    assert [a for a, _ in steps(repo)] == ["update"]  # the stored answer is believed...
    rule.write_text("# version 2\n")  # ...until the code that decides it changes
    assert steps(repo) == []


def test_the_helper_is_waited_for_only_for_its_own_files() -> None:
    from mlops_gitops.spec.cache import ParseCache

    cache = ParseCache(None)
    calls: list[str] = []

    def collect(into: ParseCache) -> None:
        calls.append("collected")
        into.put("helper-key", {"kind": "Model"}, None, used=False)

    cache.pending = collect
    cache.awaited = {"helper-key"}
    assert cache.get("own-key") is None
    assert calls == []  # this process parses its own files meanwhile
    assert cache.get("helper-key") == ({"kind": "Model"}, None)
    assert calls == ["collected"]


def test_text_beyond_ascii(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    odd = model("a").replace("task: classification", 'task: classification\n  owner: "é ✓ 𝄞"')
    repo = make_repo(tmp_path / "repo", {"a.yaml": odd, "b.yaml": model("b")})
    truth = fresh(repo, monkeypatch)
    assert truth["objects"]["Model/a"][1]["spec"]["owner"] == "é ✓ 𝄞"
    assert summary(repo) == truth
    assert len(entries(repo)) == 3
    assert summary(repo) == truth
