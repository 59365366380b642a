"""`reconcile --dry-run`: the decisions and commits of a real run, with the repository (work
tree, untracked files, index, HEAD, refs, everything under .git) byte-identical afterwards."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

from tests.automate.helpers import reconcile, reconcile_text, write_traffic
from tests.support.git import commit_all, git, head, subjects

T1 = "2026-11-27T12:00:00Z"


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every path under `root` (.git included): its mode and content (or link target)."""
    found: dict[str, tuple[int, str]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                content = os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                content = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                content = ""
            found[str(path.relative_to(root))] = (info.st_mode, content)
    return found


def drifted(repo: Path) -> None:
    write_traffic(repo, {"1.1.0": 0.8, "1.2.0": 0.2}, 2000)
    commit_all(repo, "Prediction logs of cancer-prod")


def test_dry_run_changes_nothing_and_predicts_the_real_run(repo: Path) -> None:
    drifted(repo)
    (repo / "notes.txt").write_text("untracked, mine\n")  # a user's work in progress
    with open(repo / "mlops.yaml", "a") as project:  # an uncommitted edit to a tracked file
        project.write("# a comment being written\n")
    (repo / "link-to-notes").symlink_to("notes.txt")
    before = snapshot(repo)
    base = head(repo)

    preview: dict[str, Any] = reconcile(repo, T1, "--dry-run")
    assert snapshot(repo) == before
    assert head(repo) == base

    assert preview["dry_run"] is True
    monitored = {o["deployment"]: o for o in preview["monitor"]}
    assert monitored["cancer-prod"]["changed"] is True
    rule = next(r for r in preview["rules"] if r["rule"] == "cancer-prod-drift")
    assert rule["acted"] is True
    alert = next(a for a in rule["actions"] if a["type"] == "send_alert")
    assert alert["detail"] == "would send a file alert"
    assert [s["object"]["name"] for s in preview["plan"]["steps"]] == ["cancer-prod"]
    predicted = [c["subject"] for c in preview["commits"]]
    assert predicted[0].startswith("mlops-gitops: monitor") or "monitor" in predicted[0]
    assert any("rule cancer-prod-drift" in s for s in predicted)

    text = reconcile_text(repo, T1, "--dry-run")
    assert text.startswith("Dry run of reconcile: nothing is changed")
    assert "apply would carry out this plan:" in text
    assert f"reconcile would make {len(predicted)} commit(s) before apply's:" in text
    assert "  send_alert: would send a file alert" in text
    assert "rule cancer-prod-drift: WOULD ACT: drift share" in text
    assert snapshot(repo) == before

    # The real run makes the commits the preview named, in that order, then apply's.
    git(repo, "checkout", "--", "mlops.yaml")
    reconcile(repo, T1)
    made = subjects(repo, f"{base}..HEAD")[::-1]
    assert made[: len(predicted)] == predicted


def test_dry_run_with_nothing_new(repo: Path) -> None:
    before = snapshot(repo)
    text = reconcile_text(repo, T1, "--dry-run")
    assert "reconcile would make no commit before apply's." in text
    assert "No changes. Recorded state matches the specs." in text
    assert snapshot(repo) == before


def test_dry_run_leaves_out_a_fifo_deep_in_the_work_tree(repo: Path) -> None:
    os.mkfifo(repo / "data" / "pipe")  # copying it would block or fail the copy
    before = snapshot(repo)
    text = reconcile_text(repo, T1, "--dry-run")
    assert "reconcile would make no commit before apply's." in text
    assert snapshot(repo) == before


def test_dry_run_refuses_push(repo: Path) -> None:
    before = snapshot(repo)
    reconcile_text(repo, T1, "--dry-run", "--push", expect=1)
    assert snapshot(repo) == before
