"""`reconcile --dry-run`: every phase's decisions and the commits it would make, changing nothing.

The phases (monitor, rules, retirements, canary analyses) run for real, in a throwaway copy:
a clone that borrows the repository's objects (`git clone --shared`, which writes nothing into
the original), reset to the same commit, with the work tree copied over it (uncommitted and
untracked files included), so they see exactly what reconcile would see. What leaves the
repository is only described: alerts are not sent, pipelines not trained, nothing applied or
pushed (Prometheus is only read). The plan is the one apply would then carry out. The
original's work tree, index, HEAD and refs are never written.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mlops_gitops import git
from mlops_gitops.automate.reconcile import ReconcileResult
from mlops_gitops.errors import MlopsError
from mlops_gitops.plan.model import Plan
from mlops_gitops.workspace import Workspace

MAX_COMMITS = 200


@dataclass(frozen=True)
class PreviewCommit:
    subject: str
    files: list[str]
    body: str

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "files": self.files, "message": self.body}


@dataclass
class DryRun:
    phases: ReconcileResult
    plan: Plan | None = None
    commits: list[PreviewCommit] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        code = self.phases.exit_code
        if code == 0 and self.plan is not None and self.plan.blocked():
            return 3  # apply would leave blocked steps, as reconcile would exit
        return code

    def to_json(self) -> dict[str, Any]:
        body = self.phases.to_json()
        body.pop("pushed", None)
        body.pop("push_attempts", None)
        return body | {
            "dry_run": True,
            "plan": self.plan.to_json() if self.plan is not None else None,
            "commits": [c.to_json() for c in self.commits],
            "exit_code": self.exit_code,
        }


def dry_run(repo: Path, now: datetime) -> DryRun:
    from mlops_gitops.automate.canary import run_canaries
    from mlops_gitops.automate.retirement import run_retirements
    from mlops_gitops.automate.rules import run_rules
    from mlops_gitops.monitor.run import monitor

    if not git.is_repo(repo):
        raise MlopsError(f"{repo} is not a git repository; reconcile commits its work")
    top = Path(git.run(repo, "rev-parse", "--show-toplevel").strip())
    inside = repo.resolve().relative_to(top.resolve())
    base = git.head(repo)
    with tempfile.TemporaryDirectory(prefix="mlops-gitops-dry-run-") as scratch:
        copy = Path(scratch) / "repo"
        git.run(
            Path(scratch), "clone", "--quiet", "--shared", "--no-checkout", "--", str(top), "repo"
        )
        if base is not None:
            git.run(copy, "reset", "--quiet", base)
        _copy_work_tree(top, copy)
        root = copy / inside
        result = DryRun(ReconcileResult())
        workspace = Workspace.load(root)
        result.phases.monitor = monitor(workspace, now)
        result.phases.rules = run_rules(workspace, now, dry_run=True)
        if any(o.commit for o in result.phases.rules):
            workspace = Workspace.load(root)
        result.phases.retirements = run_retirements(workspace, now)
        if any(o.edited for o in result.phases.retirements):
            workspace = Workspace.load(root)
        # Canary analyses: their alerts go to the log and a file in the copy; Prometheus is
        # only read.
        result.phases.canaries = run_canaries(workspace, now)
        if any(o.acted for o in result.phases.canaries):
            workspace = Workspace.load(root)
        result.plan = workspace.plan(now)
        result.commits = _commits(copy, base)
    _forget_commits(result.phases)
    return result


def _forget_commits(phases: ReconcileResult) -> None:
    """The copy's commits vanish with it: naming them would point at nothing."""
    for outcome in [*phases.monitor, *phases.rules, *phases.canaries]:
        outcome.commit = None
    for retirement in phases.retirements:
        for phase in retirement.phases:
            phase.commit = None


def _copy_work_tree(source: Path, dest: Path) -> None:
    """Every file of the work tree but `.git`, symlinks as symlinks (never followed); FIFOs,
    sockets and devices are left out at any depth (copying one would block or fail)."""
    for entry in os.scandir(source):
        if entry.name == ".git":
            continue
        target = dest / entry.name
        mode = entry.stat(follow_symlinks=False).st_mode
        if stat.S_ISDIR(mode):
            shutil.copytree(
                entry.path, target, symlinks=True, dirs_exist_ok=True, ignore=_special_files
            )
        elif stat.S_ISLNK(mode) or stat.S_ISREG(mode):
            shutil.copy2(entry.path, target, follow_symlinks=False)


def _special_files(folder: str, names: list[str]) -> set[str]:
    kept = (stat.S_ISDIR, stat.S_ISREG, stat.S_ISLNK)
    return {
        name
        for name in names
        if not any(kind(os.lstat(os.path.join(folder, name)).st_mode) for kind in kept)
    }


def _commits(copy: Path, base: str | None) -> list[PreviewCommit]:
    span = f"{base}..HEAD" if base else "HEAD"
    if git.head(copy) == base:
        return []
    shas = git.run(copy, "rev-list", "--reverse", f"--max-count={MAX_COMMITS}", span).split()
    commits = []
    for sha in shas:
        message = git.run(copy, "log", "-1", "--format=%B", sha)
        files = git.run(copy, "show", "--format=", "--name-only", "-z", sha).split("\0")
        commits.append(
            PreviewCommit(
                message.splitlines()[0] if message else "", sorted(filter(None, files)), message
            )
        )
    return commits
