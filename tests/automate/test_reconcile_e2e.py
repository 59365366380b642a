"""`reconcile --push` end to end, against a bare remote, as CI runs it (subprocesses).

Drifted prediction logs land on main; reconcile reports them, the drift rule rolls the canary
back by a commit that edits the deployment file (nothing else in it changes), apply carries
the rollback out, and everything is pushed. Running again does nothing. Two clones running
at once both finish, and every step is in the remote's history exactly once.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.automate.helpers import (
    DEPLOYMENT_FILE,
    REPORT,
    RULE_FILE,
    Hook,
    allow_private_webhooks,
    write_traffic,
)
from tests.support.cli import run_process, spawn
from tests.support.git import commit_all, git, head, subjects, trailers
from tests.support.repos import copy_repo

pytestmark = [pytest.mark.slow, pytest.mark.no_git_identity]

T1 = "2026-11-27T12:00:00Z"
T2 = "2026-11-27T13:00:00Z"


@pytest.fixture
def remote(reconciled: Path, tmp_path: Path) -> Path:
    """A bare remote whose main holds the reconciled example plus drifted traffic on cancer-prod."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    seed = copy_repo(reconciled, tmp_path / "seed")
    write_traffic(seed, {"1.1.0": 0.8, "1.2.0": 0.2}, 2000)
    commit_all(seed, "Prediction logs of cancer-prod")
    git(seed, "remote", "add", "origin", str(bare))
    git(seed, "push", "-q", "origin", "main")
    return bare


def clone(remote: Path, dest: Path, store_from: Path) -> Path:
    """A fresh clone, with the artifact store a persistent CI workspace would keep."""
    git(remote.parent, "clone", "-q", str(remote), str(dest))
    shutil.copytree(store_from / ".mlops" / "artifacts", dest / ".mlops" / "artifacts")
    return dest


def remote_file(remote: Path, path: str) -> str:
    return git(remote, "show", f"main:{path}")


def commit_weekly_rule(work: Path) -> None:
    """Something for the tool to commit: a schedule rule fires on its first run."""
    (work / "rules" / "weekly.yaml").write_text(
        "apiVersion: mlops-gitops/v1\nkind: Rule\nmetadata:\n  name: weekly\n"
        "spec:\n  deployment: cancer-prod\n"
        '  triggers:\n    - {type: schedule, cron: "0 3 * * 1"}\n'
        "  actions:\n    - {type: send_alert, channel: log}\n"
    )
    commit_all(work, "weekly rule")


def test_drift_rollback_is_a_commit_applied_and_pushed_then_nothing(
    remote: Path, reconciled: Path, tmp_path: Path
) -> None:
    work = clone(remote, tmp_path / "work", reconciled)
    before_head = head(work)
    before = (work / DEPLOYMENT_FILE).read_text()

    done = run_process("--repo", work, "reconcile", "--now", T1, "--push")
    assert done.code == 0, done.seen
    assert "rule cancer-prod-drift: ACTED: drift share 0.30 > 0.25" in done.out
    assert "pushed after 1 attempt(s)" in done.out
    assert git(remote, "rev-parse", "main").strip() == head(work)

    # Three commits by the tool: the report, the rule's spec edit, the apply.
    new = git(work, "log", "--format=%H %s", f"{before_head}..HEAD").splitlines()
    assert [line.split(" ", 1)[1] for line in new] == [
        "mlops-gitops: apply (1 updated)",
        "mlops-gitops: rule cancer-prod-drift on cancer-prod: "
        "rollback_deployment to=1.1.0, send_alert channel=file",
        "mlops-gitops: monitor cancer-prod",
    ]
    apply_sha, rule_sha, monitor_sha = (line.split()[0] for line in new)

    # The rule's commit names the rule, the evidence (the monitor commit) and the numbers ...
    body = git(work, "log", "-1", "--format=%B", rule_sha)
    assert "Mlops-Rule: cancer-prod-drift" in body
    assert f"Mlops-Evidence: {REPORT}@{monitor_sha[:12]}" in body
    assert "Mlops-Trigger: data_drift 0.3 threshold 0.25" in body
    assert "- drift share 0.30 > 0.25" in body
    # ... and edits the deployment file by removing the canary block, nothing else.
    files = git(work, "show", "--format=", "--name-only", rule_sha).split()
    assert sorted(files) == [
        ".mlops/state/rules/cancer-prod-drift.json",
        "alerts/2026-11-27.md",
        DEPLOYMENT_FILE,
    ]
    after = git(work, "show", f"{rule_sha}:{DEPLOYMENT_FILE}")
    removed = [
        "  canary:\n",
        '    version: "1.2.0"\n',
        "    traffic: 20                   # percent of requests; the rest go to the stable"
        " version\n",
    ]
    assert "".join(removed) in before
    assert after == before.replace("".join(removed), "")
    kept_comments = [
        line for line in before.splitlines() if "#" in line and "traffic: 20" not in line
    ]
    assert all(line in after.splitlines() for line in kept_comments)
    diff = git(work, "show", "--format=", "--unified=0", rule_sha, "--", DEPLOYMENT_FILE)
    changed = [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed == ["-" + line.rstrip("\n") for line in removed]

    # Apply carried the rollback out: recorded state serves 1.1.0 alone, pushed.
    assert trailers(work, "Mlops-Step", f"{rule_sha}..{apply_sha}") == [
        "update Deployment/cancer-prod 1.2.0"
    ]
    state = json.loads(remote_file(remote, ".mlops/state/deployments/cancer-prod.json"))
    assert state["version"] == "1.1.0"
    assert state.get("canary") is None
    assert "  canary:" not in remote_file(remote, DEPLOYMENT_FILE)

    # A second run: no new data, the rule already acted, state matches. No commit, no push.
    again = run_process("--repo", work, "reconcile", "--now", T2, "--push", "--format", "json")
    assert again.code == 0, again.seen
    result = again.json()
    assert head(work) == apply_sha == git(remote, "rev-parse", "main").strip()
    assert not [o for o in result["monitor"] if o["changed"]]
    assert not [r for r in result["rules"] if r["acted"]]
    assert result["apply"]["steps"] == []
    assert result["pushed"] is True
    assert git(work, "status", "--porcelain") == ""


RACE = """
import subprocess, sys, time
start = float(sys.argv[1])
time.sleep(max(0.0, start - time.time()))
sys.exit(subprocess.call(sys.argv[2:]))
"""


def test_two_clones_reconciling_at_once_lose_nothing_and_do_nothing_twice(
    remote: Path, reconciled: Path, tmp_path: Path
) -> None:
    clones = [clone(remote, tmp_path / name, reconciled) for name in ("a", "b")]
    start = head(clones[0])
    at = time.time() + 1.0
    runs = [
        spawn(
            str(at),
            sys.executable,
            "-m",
            "mlops_gitops",
            "--no-color",
            "--repo",
            repo,
            "reconcile",
            "--now",
            now,
            "--push",
            script=RACE,
        )
        for repo, now in zip(clones, ("2026-11-27T12:00:00Z", "2026-11-27T12:05:00Z"), strict=True)
    ]
    outputs = [run.communicate(timeout=180) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, out + err
        assert "pushed after" in out, out + err

    final = git(remote, "rev-parse", "main").strip()
    # Both clones end on commits the remote has; at least one is its head.
    assert final in {head(c) for c in clones}
    for repo in clones:
        git(repo, "merge-base", "--is-ancestor", head(repo), final)

    # Every step, rule firing and report is in the remote's history once.
    steps = trailers(remote, "Mlops-Step", f"{start}..main")
    assert steps == ["update Deployment/cancer-prod 1.2.0"], steps
    assert trailers(remote, "Mlops-Rule", f"{start}..main") == ["cancer-prod-drift"]
    assert Counter(subjects(remote, f"{start}..main")) == Counter(
        {
            "mlops-gitops: monitor cancer-prod": 1,
            "mlops-gitops: rule cancer-prod-drift on cancer-prod: "
            "rollback_deployment to=1.1.0, send_alert channel=file": 1,
            "mlops-gitops: apply (1 updated)": 1,
        }
    )
    alerts = remote_file(remote, "alerts/2026-11-27.md")
    assert alerts.count("drift share 0.30 > 0.25") == 1

    # The final state is consistent: specs without the canary, state serving 1.1.0 alone,
    # and a fresh clone finds nothing to do.
    assert "  canary:" not in remote_file(remote, DEPLOYMENT_FILE)
    state = json.loads(remote_file(remote, ".mlops/state/deployments/cancer-prod.json"))
    assert state["version"] == "1.1.0" and state.get("canary") is None
    check = clone(remote, tmp_path / "check", reconciled)
    done = run_process("--repo", check, "reconcile", "--now", T2, "--push")
    assert done.code == 0, done.seen
    assert head(check) == final == git(remote, "rev-parse", "main").strip()
    assert "Nothing to do" in done.out


def test_a_commit_landing_during_the_run_is_kept_and_the_tools_commits_rebased(
    remote: Path, reconciled: Path, tmp_path: Path
) -> None:
    """main moves while reconcile works: its push is rejected, it rebases (no git identity
    on the runner) and pushes; nothing is redone, so the webhook alert goes out once."""
    hook = Hook()
    try:
        human = clone(remote, tmp_path / "human", reconciled)
        rule = human / RULE_FILE
        rule.write_text(
            rule.read_text()
            + f'    - {{type: send_alert, channel: webhook, url: "{hook.url}", retries: 0}}\n'
        )
        allow_private_webhooks(human)
        commit_all(human, "Page on drift too")
        git(human, "push", "-q", "origin", "main")
        work = clone(remote, tmp_path / "work", reconciled)
        # Someone merges while the job runs: the remote moves past the job's checkout.
        (human / "NOTES.md").write_text("Runbook: see alerts/.\n")
        landed = commit_all(human, "Add notes")
        git(human, "push", "-q", "origin", "main")

        done = run_process("--repo", work, "reconcile", "--now", T1, "--push")
        assert done.code == 0, done.seen
        assert "note: rebased the tool's commits onto the new head" in done.out
        assert "re-running" not in done.out
        assert "pushed after 2 attempt(s)" in done.out
        assert len(hook.requests) == 1
    finally:
        hook.close()
    final = git(remote, "rev-parse", "main").strip()
    assert final == head(work)
    git(remote, "merge-base", "--is-ancestor", landed, final)
    assert subjects(remote, f"{landed}..main") == [
        "mlops-gitops: apply (1 updated)",
        "mlops-gitops: rule cancer-prod-drift on cancer-prod: "
        "rollback_deployment to=1.1.0, send_alert channel=file, send_alert channel=webhook",
        "mlops-gitops: monitor cancer-prod",
    ]
    # The replayed commits name each other by their new names: the evidence is the pushed
    # report commit, the apply's spec commit the pushed rule commit, in messages and state.
    apply_sha, rule_sha, monitor_sha = git(remote, "log", "-3", "--format=%H", "main").split()
    rule_body = git(remote, "log", "-1", "--format=%B", rule_sha)
    assert f"Mlops-Evidence: {REPORT}@{monitor_sha[:12]}\n" in rule_body
    assert f"Mlops-Spec-Commit: {rule_sha}\n" in git(remote, "log", "-1", "--format=%B", apply_sha)
    state = json.loads(remote_file(remote, ".mlops/state/deployments/cancer-prod.json"))
    assert state["history"][-1]["commit"] == rule_sha
    rule_state = json.loads(remote_file(remote, ".mlops/state/rules/cancer-prod-drift.json"))
    assert rule_state["last_evidence"] == f"{REPORT}@{monitor_sha[:12]}"
    # The tool's commits keep their author; the committer comes from the Project's author.
    who = git(remote, "log", "-1", "--format=%an <%ae>|%cn <%ce>", "main").strip()
    assert who == "mlops-gitops <mlops-gitops@localhost>|mlops-gitops <mlops-gitops@localhost>"


def test_a_push_refused_for_good_fails_at_once(reconciled: Path, tmp_path: Path) -> None:
    """A refusal that no retry can fix (a protected branch) is an error naming the reason."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(reconciled), str(remote))
    work = clone(remote, tmp_path / "work", reconciled)
    commit_weekly_rule(work)
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is protected' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = git(remote, "rev-parse", "main").strip()
    done = run_process("--repo", work, "reconcile", "--now", T1, "--push")
    assert done.code == 1, done.seen
    assert "could not push to origin/main" in done.err
    assert "main is protected" in done.err
    assert "after 4 attempts" not in done.err
    assert git(remote, "rev-parse", "main").strip() == before


def test_a_moved_branch_never_costs_uncommitted_changes(reconciled: Path, tmp_path: Path) -> None:
    """Run by hand in a working copy: replaying or resetting would lose local edits."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(reconciled), str(remote))
    work = clone(remote, tmp_path / "work", reconciled)
    other = clone(remote, tmp_path / "other", reconciled)
    (other / "NOTES.md").write_text("notes\n")
    commit_all(other, "Add notes")
    git(other, "push", "-q", "origin", "main")
    commit_weekly_rule(work)
    mlops = work / "mlops.yaml"
    mlops.write_text(mlops.read_text() + "# a local edit, not committed\n")
    done = run_process("--repo", work, "reconcile", "--now", T1, "--push", "--allow-dirty")
    assert done.code == 1, done.seen
    assert "the working tree has uncommitted changes to tracked files" in done.err
    assert mlops.read_text().endswith("# a local edit, not committed\n")
    assert trailers(work, "Mlops-Rule", "-1") == ["weekly"]  # its commit is kept too
