"""`models` (the registry view) and `lineage` on the example repository, and the per-version
`tags`, `parent` and `dependencies` fields they read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.example import example_in_git
from tests.support.legacy import RunCli, commit_all, git, run_in
from tests.support.repos import edit_file
from tests.support.values import NOW


@pytest.fixture
def run() -> RunCli:
    return run_in


def copy_example(dest: Path, env: dict[str, str]) -> Path:
    """example-repo in git without its policies (they would need a moving clock)."""
    return example_in_git(dest, policies=False)


MODEL_FILE = "models/cancer-detector.yaml"


@pytest.fixture
def applied(tmp_path: Path, env: dict[str, str], run: RunCli) -> Path:
    """The example applied, then cancer-prod's canary promoted to stable."""
    repo = copy_example(tmp_path / "repo", env)
    assert run(repo, "apply", "--now", NOW).code == 0
    prod = repo / "deployments" / "cancer-prod.yaml"
    canary = '  canary:\n    version: "1.2.0"\n'
    edit_file(prod, canary, "")
    edit_file(prod, "    traffic: 20 ", "  # was: traffic 20 ")
    edit_file(prod, 'version: "1.1.0"', 'version: "1.2.0"')
    commit_all(repo, "Promote 1.2.0 in production", env)
    assert run(repo, "apply", "--now", "2026-03-02T12:00:00+00:00").code == 0
    return repo


def models(run: RunCli, repo: Path, *args: str) -> list[dict[str, Any]]:
    done = run(repo, "models", "--format", "json", *args)
    assert done.code == 0, done.seen
    found: list[dict[str, Any]] = json.loads(done.out)["versions"]
    return found


@pytest.mark.slow
def test_models_lists_and_filters_versions(applied: Path, run: RunCli) -> None:
    every = models(run, applied)
    assert [(v["model"], v["version"]) for v in every] == [
        ("cancer-detector", "1.0.0"),
        ("cancer-detector", "1.1.0"),
        ("cancer-detector", "1.2.0"),
        ("diabetes-progression", "1.0.0"),
        ("diabetes-progression", "2.0.0"),
    ]
    newest = every[2]
    assert newest["status"] == "production"
    assert newest["tags"] == ["oncology", "tabular", "boosted-trees", "candidate"]
    assert newest["parent"] == "1.1.0" and newest["owner"] == "health-ml@example.com"
    assert newest["created"] == "2026-03-02" and newest["author"] == "bob"

    assert [v["version"] for v in models(run, applied, "--tag", "candidate")] == ["1.2.0"]
    assert len(models(run, applied, "--tag", "tabular")) == 5  # a model's tag counts too
    assert [(v["model"], v["version"]) for v in models(run, applied, "--status", "production")] == [
        ("cancer-detector", "1.2.0"),
        ("diabetes-progression", "2.0.0"),
    ]
    assert models(run, applied, "--owner", "HEALTH-ML@example.com") == every
    assert models(run, applied, "--owner", "nobody@example.com") == []
    text = run(applied, "models", "--tag", "candidate")
    assert text.out.splitlines()[0].split() == [
        "MODEL",
        "VERSION",
        "STATUS",
        "OWNER",
        "TAGS",
        "PARENT",
        "CREATED",
    ]
    assert "candidate" in text.out.splitlines()[1]
    assert run(applied, "models", "--tag", "none-such").out == "No model versions match.\n"


@pytest.mark.slow
def test_lineage_shows_parents_commit_data_and_where_it_served(
    applied: Path, run: RunCli, env: dict[str, str]
) -> None:
    done = run(applied, "lineage", "cancer-detector@1.2.0", "--format", "json")
    assert done.code == 0, done.seen
    report = json.loads(done.out)
    assert report["parents"] == [
        {"model": "cancer-detector", "version": "1.1.0", "in_spec": True},
        {"model": "cancer-detector", "version": "1.0.0", "in_spec": True},
    ]
    first = git(applied, "rev-list", "--max-parents=0", "HEAD", env=env).strip()
    assert report["spec_commit"] == first  # the commit that added the version entry
    assert report["training_data"]["uri"] == "data/train/cancer.csv"
    assert report["dependencies"] == {"scikit-learn": ">=1.4", "skops": ">=0.10"}
    assert report["artifact"]["sha256"].startswith("a4f751bc9e69")
    served = {(d["deployment"], d["role"]): d for d in report["deployments"]}
    assert served[("cancer-staging", "canary")]["until"] is None
    canary = served[("cancer-prod", "canary")]
    stable = served[("cancer-prod", "stable")]
    assert canary["from"] == "2026-03-01T12:00:00+00:00"
    assert canary["until"] == stable["from"] == "2026-03-02T12:00:00+00:00"
    assert stable["until"] is None and stable["stage"] == "production"
    assert report["stages"]["production"] == "2026-03-01T12:00:00+00:00"

    parent = json.loads(run(applied, "lineage", "cancer-detector@1.1.0", "--format", "json").out)
    assert parent["children"] == [{"model": "cancer-detector", "version": "1.2.0"}]

    text = run(applied, "lineage", "cancer-detector@1.2.0").out
    assert "parents:       cancer-detector@1.1.0 <- cancer-detector@1.0.0" in text
    assert "cancer-prod" in text and "production" in text


@pytest.mark.slow
def test_lineage_refuses_what_does_not_exist(applied: Path, run: RunCli) -> None:
    for ref, message in (
        ("cancer-detector@9.9.9", "in neither the specs nor the recorded state"),
        ("cancer-detector", "is not MODEL@VERSION"),
        ("nope@1.0.0", "in neither the specs nor the recorded state"),
    ):
        done = run(applied, "lineage", ref)
        assert done.code == 1 and message in done.err, done.seen


@pytest.mark.slow
@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ('      parent: "1.2.0"\n', "spec.versions[2].parent: a version cannot be its own parent"),
        ('      parent: "Bad Parent"\n', "spec.versions[2].parent"),
        ("      tags: [has space]\n", "spec.versions[2].tags"),
        ("      dependencies: {numpy: latest}\n", "spec.versions[2].dependencies"),
        ('      dependencies: {"-x": "==1"}\n', "spec.versions[2].dependencies"),
    ],
)
def test_bad_version_fields_are_reported_in_place(
    tmp_path: Path, env: dict[str, str], run: RunCli, edit: str, message: str
) -> None:
    repo = copy_example(tmp_path / "repo", env)
    path = repo / MODEL_FILE
    text = path.read_text()
    # The third version (1.2.0, versions[2]) gets the edit in place of its own such fields.
    anchor = '      created: "2026-03-02"\n'
    head, rest = text.split(anchor)
    mine = ("      parent:", "      tags:", "      dependencies:")
    kept = [line for line in rest.splitlines(keepends=True) if not line.startswith(mine)]
    path.write_text(head + anchor + edit + "".join(kept))
    done = run(repo, "validate")
    assert done.code == 1, done.seen
    assert f"{MODEL_FILE}:" in done.out and message in done.out, done.out


@pytest.mark.slow
def test_a_parent_removed_from_the_specs_is_kept_in_the_lineage(
    tmp_path: Path, env: dict[str, str], run: RunCli
) -> None:
    """Retired versions leave the specs; the versions derived from them stay valid."""
    repo = copy_example(tmp_path / "repo", env)
    path = repo / MODEL_FILE
    text = path.read_text()
    path.write_text(text.replace('      parent: "1.1.0"\n', '      parent: "other-model@0.9.0"\n'))
    assert run(repo, "validate").code == 0
    report = json.loads(run(repo, "lineage", "cancer-detector@1.2.0", "--format", "json").out)
    assert report["parents"] == [{"model": "other-model", "version": "0.9.0", "in_spec": False}]


@pytest.mark.slow
def test_a_parent_loop_is_refused(tmp_path: Path, env: dict[str, str], run: RunCli) -> None:
    repo = copy_example(tmp_path / "repo", env)
    path = repo / MODEL_FILE
    text = path.read_text()
    anchor = '      created: "2026-01-10"\n'
    path.write_text(text.replace(anchor, anchor + '      parent: "1.2.0"\n'))
    done = run(repo, "validate")
    assert done.code == 1
    assert "the parents loop back to cancer-detector@" in done.out
