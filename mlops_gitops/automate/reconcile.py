"""`reconcile`: the CI entry point. Monitor, rules, retirements, plan, apply, commit, and push.

Each phase is a no-op when nothing is new, so running on the tool's own commit does
nothing: no CI loop. Pushing retries on a moved branch: the tool's commits are rebased onto
the new head, or, if they conflict, dropped and the phases run again on that head.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mlops_gitops import fsguard, git
from mlops_gitops.errors import MlopsError
from mlops_gitops.workspace import Workspace

PUSH_ATTEMPTS = 4


@dataclass
class ReconcileResult:
    monitor: list[Any] = field(default_factory=list)
    rules: list[Any] = field(default_factory=list)
    retirements: list[Any] = field(default_factory=list)
    canaries: list[Any] = field(default_factory=list)
    apply: Any = None
    pushed: bool = False
    push_attempts: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        code: int = self.apply.exit_code if self.apply is not None else 0
        if any("error" in action for o in self.rules for action in o.actions):
            return 1  # a rule's action failed, like a failed step
        if code == 0 and any(o.blocked_by for o in self.retirements):
            return 3  # a blocked retirement phase, like a blocked step
        return code

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": "1",
            "monitor": [o.to_json() for o in self.monitor],
            "rules": [o.to_json() for o in self.rules],
            "retirements": [o.to_json() for o in self.retirements],
            "canaries": [o.to_json() for o in self.canaries],
            "apply": self.apply.to_json() if self.apply is not None else None,
            "pushed": self.pushed,
            "push_attempts": self.push_attempts,
            "notes": self.notes,
            "exit_code": self.exit_code,
        }


def _phases(
    repo: Path, now: datetime, result: ReconcileResult, lock_timeout: float, allow_dirty: bool
) -> None:
    from mlops_gitops.apply import run
    from mlops_gitops.automate.canary import run_canaries
    from mlops_gitops.automate.retirement import run_retirements
    from mlops_gitops.automate.rules import run_rules
    from mlops_gitops.monitor.run import monitor

    workspace = Workspace.load(repo)
    run.check_clean(workspace, allow_dirty)  # before any phase commits on top of the edits
    result.monitor = monitor(workspace, now)
    result.rules = run_rules(workspace, now)
    if any(o.commit for o in result.rules):
        workspace = Workspace.load(repo)  # rules edited the specs
    result.retirements = run_retirements(workspace, now)
    if any(o.edited for o in result.retirements):
        workspace = Workspace.load(repo)  # retirement phases edited the specs
    result.canaries = run_canaries(workspace, now)
    if any(o.acted for o in result.canaries):
        workspace = Workspace.load(repo)  # the analysis stepped, promoted or aborted
    result.apply = run.apply(workspace, now, None, True, lock_timeout, allow_dirty=allow_dirty)


def reconcile(
    repo: Path,
    now: datetime,
    push: bool = False,
    remote: str | None = None,
    branch: str | None = None,
    lock_timeout: float = 0.0,
    allow_dirty: bool = False,
) -> ReconcileResult:
    if not git.is_repo(repo):
        raise MlopsError(f"{repo} is not a git repository; reconcile commits its work")

    settings = Workspace.load(repo).project.git
    remote = remote or settings.remote
    branch = branch or settings.branch
    result = ReconcileResult()
    _phases(repo, now, result, lock_timeout, allow_dirty)
    if not push:
        return result
    for attempt in range(1, PUSH_ATTEMPTS + 1):
        result.push_attempts = attempt
        try:
            git.run(repo, "push", "--porcelain", "--", remote, f"HEAD:refs/heads/{branch}")
            refused = ""
        except git.GitError as exc:
            refused = _scrub(exc.message)
        status = git.run(repo, "rev-parse", "HEAD").strip()
        if _pushed(repo, remote, branch, status):
            result.pushed = True
            return result
        result.notes.append(f"push {attempt} rejected: {refused[-200:] or 'branch moved'}")
        git.run(repo, "fetch", "--quiet", "--", remote, branch)
        if _contains(repo, "HEAD", "FETCH_HEAD"):
            # The branch did not move past us: retrying cannot help (permissions, a
            # protected branch, a hook on the server).
            raise MlopsError(
                f"could not push to {remote}/{branch}: {refused or 'rejected'}",
                hint="check that the job may push to the branch",
            )
        dirty = git.run(repo, "status", "--porcelain", "--untracked-files=no").strip()
        if dirty:  # replaying or resetting would lose them
            raise MlopsError(
                f"could not push to {remote}/{branch}: the branch moved, and the working tree "
                f"has uncommitted changes to tracked files ({dirty.splitlines()[0].strip()} ...)",
                hint="commit or stash them, or run reconcile in a clean checkout",
            )
        if _rebase(repo, settings.author):
            result.notes.append("rebased the tool's commits onto the new head")
        else:
            git.run(repo, "reset", "--quiet", "--hard", "FETCH_HEAD")
            result.notes.append("the tool's commits conflicted with the new head; re-running on it")
            _phases(repo, now, result, lock_timeout, allow_dirty)
    raise MlopsError(
        f"could not push to {remote}/{branch} after {PUSH_ATTEMPTS} attempts",
        hint="another writer keeps moving the branch; the next run will retry",
    )


def _rebase(repo: Path, author: str | None) -> bool:
    """Replay the tool's commits onto FETCH_HEAD; False, with HEAD as it was, on a conflict.

    A rebase done commit by commit, because the tool's messages name its own earlier commits
    (`Mlops-Evidence: ...@<monitor commit>`, `Mlops-Spec-Commit: <rule commit>`): each replayed
    message names the replayed commits, so the audit log never points at a commit that was
    not pushed. A commit whose change is already upstream is dropped and named by the new
    head. Like the tool's commits: no hooks, no signing, and a committer taken from the
    Project's author when git has no identity (CI runners have none).
    """
    config = ["-c", "core.hooksPath=/dev/null", "-c", "commit.gpgsign=false"]
    if not git.run(repo, "config", "user.email", check=False).strip():
        name, email = (
            git.parse_author(author) if author else ("mlops-gitops", "mlops-gitops@localhost")
        )
        config += ["-c", f"user.name={name}", "-c", f"user.email={email}"]
    original = git.run(repo, "rev-parse", "HEAD").strip()
    commits = git.run(repo, "rev-list", "--reverse", "--topo-order", "FETCH_HEAD..HEAD").split()
    git.run(repo, "reset", "--quiet", "--hard", "FETCH_HEAD")
    replayed: dict[str, str] = {}
    try:
        for old in commits:
            git.run(repo, *config, "cherry-pick", "--no-commit", old)
            files = git.run(repo, "diff", "--cached", "--name-only", "-z").split("\0")
            if not any(files):
                replayed[old] = git.run(repo, "rev-parse", "HEAD").strip()
                continue
            for name in filter(None, files):  # recorded state names its spec commit too
                _rename_commits(repo, name, replayed)
            git.run(repo, "add", "-A", "--", *filter(None, files))
            message = _renamed(git.run(repo, "log", "-1", "--format=%B", old), replayed)
            who, when = git.run(repo, "log", "-1", "--format=%an <%ae>%x00%aI", old).split("\0")
            git.run(
                repo,
                *config,
                "commit",
                "--no-verify",
                "--quiet",
                "--cleanup=whitespace",
                f"--author={who}",
                f"--date={when.strip()}",
                "-F",
                "-",
                stdin=message,
            )
            replayed[old] = git.run(repo, "rev-parse", "HEAD").strip()
    except git.GitError:
        git.run(repo, "cherry-pick", "--abort", check=False)
        git.run(repo, "reset", "--quiet", "--hard", original)
        return False
    return True


def _renamed(text: str, replayed: dict[str, str]) -> str:
    for before, after in replayed.items():
        text = text.replace(before, after).replace(before[:12], after[:12])
    return text


def _rename_commits(repo: Path, name: str, replayed: dict[str, str]) -> None:
    """Replace replayed commits' names in a text file the tool's commit changed."""
    path = repo / name
    if not replayed or not path.is_file() or path.is_symlink() or path.stat().st_size > 4 << 20:
        return
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    renamed = _renamed(text, replayed)
    if renamed != text:
        fsguard.write(repo, path, renamed.encode("utf-8"))


def _contains(repo: Path, commit: str, ancestor: str) -> bool:
    """Whether `ancestor` is in the history of `commit`."""
    out = git.run(repo, "rev-list", "--count", f"{commit}..{ancestor}", check=False).strip()
    return out == "0"


def _scrub(text: str) -> str:
    """Git's messages name the remote's URL, which may carry a token (https://user:token@)."""
    return re.sub(r"(?<=://)[^/@\s]+@", "", text)


def _pushed(repo: Path, remote: str, branch: str, head: str) -> bool:
    out = git.run(repo, "ls-remote", "--", remote, f"refs/heads/{branch}", check=False)
    return out.split()[:1] == [head]
