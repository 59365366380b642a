"""The CI files shipped for users' GitOps repositories: linted, and saying what the docs say.

mlops_gitops/scaffold/files/github-workflow.yml is the GitHub Actions workflow (`init --ci github`
writes it, and example-repo carries the same file where a GitOps repository keeps it);
mlops_gitops/scaffold/files/gitlab-ci.yml the GitLab one; .pre-commit-hooks.yaml the pre-commit
hook. None sits in this project's own .github/.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import run_process
from tests.support.repos import EXAMPLE_REPO, PROJECT, copy_repo

SCAFFOLD = PROJECT / "mlops_gitops" / "scaffold" / "files"
WORKFLOW = SCAFFOLD / "github-workflow.yml"
EXAMPLE_WORKFLOW = EXAMPLE_REPO / ".github" / "workflows" / "mlops-gitops.yml"
GITLAB = SCAFFOLD / "gitlab-ci.yml"
HOOKS = PROJECT / ".pre-commit-hooks.yaml"


def actionlint() -> str:
    """The actionlint binary of the dev extra (in the virtualenv), or one on PATH."""
    beside = Path(sys.executable).parent / "actionlint"
    found = str(beside) if beside.exists() else shutil.which("actionlint")
    if found is None:
        pytest.skip("actionlint is not installed (pip install -e '.[dev]')")
    return found


def zizmor() -> str:
    beside = Path(sys.executable).parent / "zizmor"
    found = str(beside) if beside.exists() else shutil.which("zizmor")
    if found is None:
        pytest.skip("zizmor is not installed (pip install -e '.[dev]')")
    return found


def run_zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    """zizmor's offline audits (no GitHub API), every finding at any severity."""
    return subprocess.run(
        [zizmor(), "--offline", "--no-progress", "--format", "plain", *map(str, paths)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )


def run_actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [actionlint(), "-no-color", "-oneline", *map(str, paths)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def load(path: Path) -> Any:
    # YAML 1.1 reads the key `on` as True: look it up under both.
    return yaml.safe_load(path.read_text())


def steps_text(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in job["steps"])


def test_actionlint_finds_nothing_in_the_shipped_workflows() -> None:
    done = run_actionlint(WORKFLOW, EXAMPLE_WORKFLOW)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_actionlint_would_catch_a_broken_workflow(tmp_path: Path) -> None:
    """The check above is live: the same binary reports a mistake in a copy of the workflow."""
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    text = WORKFLOW.read_text()
    assert "github.event_name != 'pull_request'" in text
    broken.write_text(text.replace("github.event_name !=", "github.event_nam !="))
    done = run_actionlint(broken)
    assert done.returncode != 0
    assert "event_nam" in done.stdout


def test_zizmor_finds_nothing_in_the_shipped_workflows() -> None:
    done = run_zizmor(WORKFLOW, EXAMPLE_WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr


def test_zizmor_would_catch_an_unpinned_action(tmp_path: Path) -> None:
    """The check above is live: a tag instead of a commit, and event text in a script, fail."""
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    text = WORKFLOW.read_text()
    text = re.sub(r"actions/setup-python@[0-9a-f]{40}", "actions/setup-python@v6", text)
    text = text.replace(
        "run: mlops-gitops validate --format github",
        'run: echo "${{ github.event.pull_request.title }}"',
    )
    broken.write_text(text)
    done = run_zizmor(broken)
    assert done.returncode != 0
    assert "unpinned-uses" in done.stdout
    assert "template-injection" in done.stdout


PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")


def test_every_action_is_pinned_by_commit_with_its_tag_beside() -> None:
    lines = [
        line.split("uses:", 1)[1].split("# zizmor")[0].strip()
        for line in WORKFLOW.read_text().splitlines()
        if "uses:" in line and not line.lstrip().startswith("#")
    ]
    assert len(lines) == 8
    for used in lines:
        assert PINNED.match(used), used
    # One commit per action: checkouts in both jobs are the same release.
    pins: dict[str, set[str]] = {}
    for used in lines:
        action, ref = used.split(" #")[0].split("@")
        pins.setdefault(action.split("/")[0] + "/" + action.split("/")[1], set()).add(ref)
    assert all(len(refs) == 1 for refs in pins.values()), pins


def test_every_job_has_a_timeout_and_least_privilege() -> None:
    workflow = load(WORKFLOW)
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        assert 0 < job["timeout-minutes"] <= 60, name
        assert "write-all" not in str(job["permissions"]), name
    assert load(GITLAB)[".mlops-gitops"]["timeout"] == "1h"


def test_the_store_lives_in_object_storage_and_the_cache_is_keyed_by_state() -> None:
    workflow = load(WORKFLOW)
    steps = workflow["jobs"]["reconcile"]["steps"]
    aws = [s for s in steps if "configure-aws-credentials" in str(s.get("uses", ""))]
    assert len(aws) == 1
    assert aws[0]["with"]["role-to-assume"] == "${{ vars.MLOPS_AWS_ROLE_ARN }}"
    assert "aws-access-key-id" not in aws[0]["with"]  # OIDC, no stored key
    assert "secrets." not in WORKFLOW.read_text()
    caches = [s for s in steps if "actions/cache" in str(s.get("uses", ""))]
    assert [s["uses"].split("@")[0] for s in caches] == [
        "actions/cache/restore",
        "actions/cache/save",
    ]
    for step in caches:
        assert step["with"]["key"] == "mlops-artifacts-${{ hashFiles('.mlops/state/**') }}"
        assert step["if"].endswith("vars.MLOPS_AWS_ROLE_ARN == ''")
    assert "run_id" not in WORKFLOW.read_text()
    order = [s.get("name", s.get("uses", "")) for s in steps]
    assert order.index("Reconcile and push") < order.index(caches[1]["name"])
    assert caches[1]["if"].startswith("always()")

    reconcile = load(GITLAB)["reconcile"]
    assert reconcile["cache"]["key"] == {
        "prefix": "mlops-gitops-artifacts",
        "files": [".mlops/state/meta.json"],
    }
    assert reconcile["id_tokens"]["MLOPS_AWS_ID_TOKEN"]["aud"] == "sts.amazonaws.com"
    variables = reconcile["variables"]
    assert variables["AWS_ROLE_ARN"] == "$MLOPS_AWS_ROLE_ARN"
    assert variables["AWS_WEB_IDENTITY_TOKEN_FILE"].startswith("/tmp/")
    for text in (WORKFLOW.read_text(), GITLAB.read_text()):
        assert "mlops-gitops[sklearn,remote]" in text


def test_example_repo_carries_the_same_workflow() -> None:
    assert EXAMPLE_WORKFLOW.read_bytes() == WORKFLOW.read_bytes()


SKIPPED_FOLDERS = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"}


def copies_of_the_workflow() -> list[str]:
    """Every file in this project whose bytes are the shipped workflow's."""
    shipped = WORKFLOW.read_bytes()
    found = []
    for folder, subfolders, files in os.walk(PROJECT):
        subfolders[:] = sorted(
            d for d in subfolders if d not in SKIPPED_FOLDERS and not d.endswith(".egg-info")
        )
        for name in files:
            path = Path(folder, name)
            if path.suffix in (".yml", ".yaml") and path.read_bytes() == shipped:
                found.append(path.relative_to(PROJECT).as_posix())
    return sorted(found)


def test_this_project_runs_no_shipped_workflow_by_accident() -> None:
    """GitHub runs the workflows in a repository's own .github/workflows: the shipped one
    stands only where users copy it from, and in example-repo (a GitOps repository of its
    own once copied out), never in this project's .github/workflows."""
    assert copies_of_the_workflow() == [
        "example-repo/.github/workflows/mlops-gitops.yml",
        "mlops_gitops/scaffold/files/github-workflow.yml",
    ]
    assert not (PROJECT / ".github" / "workflows" / WORKFLOW.name).exists()


def test_workflow_runs_what_the_docs_promise() -> None:
    workflow = load(WORKFLOW)
    on = workflow.get("on", workflow.get(True))
    assert set(on) >= {"pull_request", "push", "schedule"}
    assert on["push"]["branches"] == ["main"]
    assert on["schedule"][0]["cron"]
    assert workflow["permissions"] == {}

    plan, reconcile = workflow["jobs"]["plan"], workflow["jobs"]["reconcile"]
    assert plan["if"] == "github.event_name == 'pull_request'"
    assert plan["permissions"] == {"contents": "read", "pull-requests": "write"}
    text = steps_text(plan)
    assert "mlops-gitops validate --format github" in text
    assert "mlops-gitops plan --format markdown" in text
    comment = [s for s in plan["steps"] if str(s.get("uses", "")).startswith("actions/github-")]
    assert len(comment) == 1
    script = comment[0]["with"]["script"]
    assert "updateComment" in script and "createComment" in script  # one comment, updated

    assert reconcile["if"] == "github.event_name != 'pull_request'"
    assert reconcile["permissions"] == {"contents": "write", "id-token": "write"}
    assert reconcile["concurrency"] == {
        "group": "mlops-gitops-reconcile",
        "cancel-in-progress": False,
    }
    assert "mlops-gitops reconcile --push" in steps_text(reconcile)
    checkout = reconcile["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@")
    assert checkout["with"]["fetch-depth"] == 0


def test_workflow_interpolates_no_event_text_into_scripts() -> None:
    """Titles, branch names and bodies are attacker-controlled: never `${{ }}` them into run."""
    steps = [step for job in load(WORKFLOW)["jobs"].values() for step in job["steps"]]
    scripts = [str(step["run"]) for step in steps if "run" in step]
    scripts += [str(step["with"]["script"]) for step in steps if "script" in step.get("with", {})]
    assert len(scripts) >= 3  # the plan and reconcile jobs' shell steps and the PR comment
    assert [script for script in scripts if "${{" in script] == []


def test_gitlab_example_has_the_same_jobs() -> None:
    gitlab = load(GITLAB)
    assert gitlab["stages"] == ["check", "reconcile"]
    plan, reconcile = gitlab["validate-and-plan"], gitlab["reconcile"]
    assert plan["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    plan_script = "\n".join(plan["script"])
    assert "mlops-gitops validate --format json" in plan_script
    assert "mlops-gitops plan --format markdown" in plan_script
    assert plan["artifacts"]["reports"]["codequality"] == "gl-code-quality.json"
    assert reconcile["resource_group"] == "mlops-gitops-reconcile"
    condition = reconcile["rules"][0]["if"]
    for source in ("push", "schedule"):
        assert f'$CI_PIPELINE_SOURCE == "{source}"' in condition
    assert "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH" in condition
    assert reconcile["variables"]["GIT_DEPTH"] == "0"
    assert any("mlops-gitops reconcile --push" in line for line in reconcile["script"])


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_gitlab_scripts_pass_shellcheck() -> None:
    gitlab = load(GITLAB)
    for name in (".mlops-gitops", "validate-and-plan", "reconcile"):
        job = gitlab[name]
        script = "\n".join(["#!/bin/sh", *job.get("before_script", []), *job.get("script", []), ""])
        done = subprocess.run(
            ["shellcheck", "-s", "sh", "-"], input=script, capture_output=True, text=True
        )
        assert done.returncode == 0, f"{name}:\n{done.stdout}"


def test_gitlab_python_snippets_compile() -> None:
    """Every `python - <<'EOF'` script in the GitLab example is Python that compiles."""
    scripts = [
        line
        for job in load(GITLAB).values()
        if isinstance(job, dict)
        for line in job.get("script", [])
        if "python - <<'EOF'" in line
    ]
    assert len(scripts) == GITLAB.read_text().count("python - <<'EOF'") == 2
    for script in scripts:
        match = re.fullmatch(r"python - <<'EOF'\n(.*)\nEOF\n?", script, re.S)
        assert match, script
        compile(match.group(1), "<.gitlab-ci.yml>", "exec")


def test_pre_commit_hook_exposes_validate() -> None:
    hooks = load(HOOKS)
    assert isinstance(hooks, list) and len(hooks) == 1
    hook = hooks[0]
    assert hook["id"] == "mlops-gitops-validate"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False
    assert hook["entry"] == "mlops-gitops validate"
    # Keys pre-commit knows (a typo would be ignored by it silently).
    assert set(hook) <= {
        "id", "name", "entry", "language", "files", "exclude", "types", "types_or",
        "exclude_types", "always_run", "fail_fast", "verbose", "pass_filenames",
        "require_serial", "description", "language_version", "minimum_pre_commit_version",
        "args", "stages", "additional_dependencies",
    }  # fmt: skip
    assert {"id", "name", "entry", "language"} <= set(hook)
    pattern = re.compile(hook["files"])
    for name in ("mlops.yaml", "deployments/a.yaml", "models/m.yml", "deployments/d.yaml.j2"):
        assert pattern.search(name), name
    assert not pattern.search("README.md")
    # The entry is the console script the package installs.
    scripts = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["scripts"]
    assert hook["entry"].split()[0] in scripts


@pytest.mark.slow
def test_pre_commit_entry_validates_a_repository(tmp_path: Path) -> None:
    """What the hook runs, run in a GitOps repository the way pre-commit does (cwd = root)."""
    repo = copy_repo(EXAMPLE_REPO, tmp_path / "repo")
    entry = load(HOOKS)[0]["entry"].split()
    assert entry[0] == "mlops-gitops"
    done = run_process(*entry[1:], cwd=repo, expect=0)
    assert done.out.startswith("Valid:")
    (repo / "deployments" / "cancer-prod.yaml").write_text("kind: Deployment\n")
    broken = run_process(*entry[1:], cwd=repo, expect=1)
    assert "deployments/cancer-prod.yaml:1" in broken.seen
