"""The library's entry points, used by the CLI and by anyone scripting the tool."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_gitops import snapshot
from mlops_gitops.spec.check import ValidationResult, load, validate

__all__ = ["ValidationResult", "load", "validate"]

if TYPE_CHECKING:
    from mlops_gitops.apply.blobs import Collected, Verified
    from mlops_gitops.apply.blobs import Restored as StoreRestored
    from mlops_gitops.apply.history import Event, Filters
    from mlops_gitops.apply.registry import Query
    from mlops_gitops.apply.run import ApplyResult
    from mlops_gitops.automate.dryrun import DryRun
    from mlops_gitops.automate.reconcile import ReconcileResult
    from mlops_gitops.automate.rollback import SpecChange
    from mlops_gitops.automate.ruletest import RuleTest
    from mlops_gitops.compile.manifest import Manifest
    from mlops_gitops.monitor.run import MonitorOutcome
    from mlops_gitops.plan.model import Plan
    from mlops_gitops.scaffold import Scaffold
    from mlops_gitops.state.lock import LockInfo
    from mlops_gitops.state.restore import Restored as StateRestored
    from mlops_gitops.train.pipeline import TrainResult
    from mlops_gitops.workspace import Workspace


def compile_manifest(repo: Path | str = ".", at: str | None = None) -> Manifest:
    from mlops_gitops.compile.manifest import build

    if at is not None:
        with snapshot.at(repo, at) as past:
            return build(load(past.root))
    return build(load(repo))


def validate_at(repo: Path | str, at: str | None = None) -> ValidationResult:
    """`validate`, of the files of commit `at` when given (read from git, no checkout)."""
    if at is None:
        return validate(repo)
    with snapshot.at(repo, at) as past:
        return validate(past.root)


def write_manifest(repo: Path | str, out_dir: Path, at: str | None = None) -> Path:
    """Write `manifest.json` atomically into out_dir (never through a symlink there)."""
    from mlops_gitops import fsguard

    manifest = compile_manifest(repo, at)
    path = out_dir / "manifest.json"
    fsguard.write(out_dir, path, manifest.dumps().encode())
    return path


def export_schemas(out_dir: Path) -> list[Path]:
    from mlops_gitops.spec.schema import export

    return export(out_dir)


def open_workspace(repo: Path | str = ".") -> Workspace:
    """Validated specs compiled and ready for planning; raises SpecError when invalid."""
    from mlops_gitops.workspace import Workspace

    return Workspace.load(repo)


@contextmanager
def workspace_at(repo: Path | str, at: str | None) -> Iterator[Workspace]:
    """The workspace of the work tree, or of commit `at` read from git objects (the work
    tree untouched); the artifact store is still the repository's."""
    if at is None:
        yield open_workspace(repo)
        return
    with snapshot.at(repo, at) as past:
        workspace = open_workspace(past.root)
        workspace.at_commit = past.commit
        workspace.store_root = Path(repo).resolve()
        yield workspace


def plan(
    repo: Path | str = ".",
    now: str | None = None,
    at: str | None = None,
    targets: Sequence[str] = (),
) -> Plan:
    """Plans from the work tree, or commit `at`; warns (MlopsWarning) when the specs read from
    the work tree are not all committed, since apply and CI act on committed content only.
    `targets` (`Deployment/NAME`, `Model/NAME`): only their steps and their dependencies."""
    import warnings

    from mlops_gitops.errors import MlopsWarning
    from mlops_gitops.workspace import parse_now

    with workspace_at(repo, at) as workspace:
        dirty = [] if at else workspace.dirty()
        if dirty:
            more = f" and {len(dirty) - 1} more" if len(dirty) > 1 else ""
            warnings.warn(
                f"planned from uncommitted changes ({dirty[0]}{more}): this is not what apply "
                "or CI will do until they are committed",
                MlopsWarning,
                stacklevel=2,
            )
        return workspace.limit(workspace.plan(parse_now(now)), targets)


def apply(
    repo: Path | str = ".",
    plan_file: Path | None = None,
    now: str | None = None,
    commit: bool = True,
    lock_timeout: float = 0.0,
    targets: Sequence[str] = (),
    allow_dirty: bool = False,
) -> ApplyResult:
    from mlops_gitops.apply import run
    from mlops_gitops.workspace import parse_now

    return run.apply(
        open_workspace(repo), parse_now(now), plan_file, commit, lock_timeout, targets, allow_dirty
    )


def force_unlock(repo: Path | str, lock_id: str, force: bool = False) -> LockInfo:
    """Remove the state lock `lock_id`; refused while its holder runs on this host unless
    `force` (which risks two applies at once)."""
    from mlops_gitops.state import lock
    from mlops_gitops.workspace import LOCK_FILE

    root = Path(repo).resolve()
    return lock.force_unlock(root / LOCK_FILE, lock_id, force, root)


def status(repo: Path | str = ".", at: str | None = None) -> dict[str, Any]:
    from mlops_gitops.apply.status import status as build_status

    with workspace_at(repo, at) as workspace:
        report = build_status(workspace)
    if at is not None:
        report["at"] = workspace.at_commit
    return report


def history(repo: Path | str = ".", filters: Filters | None = None) -> list[Event]:
    """The audit log, newest first; an unknown model or deployment in `filters` is an error."""
    from mlops_gitops.apply.history import history as read_history

    return read_history(open_workspace(repo), filters)


def models(repo: Path | str = ".", query: Query | None = None) -> dict[str, Any]:
    """Model versions matching `query` (tag, owner, status): the registry view."""
    from mlops_gitops.apply.registry import Query
    from mlops_gitops.apply.registry import models as list_models

    return list_models(open_workspace(repo), query or Query())


def lineage(repo: Path | str, ref: str) -> dict[str, Any]:
    """Where MODEL@VERSION came from and where it served."""
    from mlops_gitops.apply.registry import lineage as read_lineage

    return read_lineage(open_workspace(repo), ref)


def rollback(repo: Path | str, deployment: str, to: str | None = None) -> SpecChange:
    from mlops_gitops.automate.rollback import rollback as do_rollback

    return do_rollback(open_workspace(repo), deployment, to)


def monitor(
    repo: Path | str = ".",
    deployment: str | None = None,
    now: str | None = None,
    commit: bool = True,
) -> list[MonitorOutcome]:
    from mlops_gitops.monitor.run import monitor as run_monitor
    from mlops_gitops.workspace import parse_now

    return run_monitor(open_workspace(repo), parse_now(now), deployment, commit)


def report_history(repo: Path | str, deployment: str, metric: str) -> dict[str, Any]:
    from mlops_gitops.monitor.history import report_history as read

    return read(open_workspace(repo), deployment, metric)


def reconcile(
    repo: Path | str = ".",
    now: str | None = None,
    push: bool = False,
    remote: str | None = None,
    branch: str | None = None,
    lock_timeout: float = 0.0,
    allow_dirty: bool = False,
) -> ReconcileResult:
    from mlops_gitops.automate.reconcile import reconcile as run_reconcile
    from mlops_gitops.workspace import parse_now

    return run_reconcile(
        Path(repo).resolve(), parse_now(now), push, remote, branch, lock_timeout, allow_dirty
    )


def reconcile_dry_run(repo: Path | str = ".", now: str | None = None) -> DryRun:
    """Every decision reconcile would make and the commits it would make; the repository
    (work tree, index, HEAD, refs) is left byte-identical."""
    from mlops_gitops.automate.dryrun import dry_run
    from mlops_gitops.workspace import parse_now

    return dry_run(Path(repo).resolve(), parse_now(now))


def rule_test(
    repo: Path | str, rule: str, now: str | None = None, report: Path | None = None
) -> RuleTest:
    """Judge one rule against the latest report of its deployment (or `report`): whether it
    would act now and why; nothing is changed, sent or committed."""
    from mlops_gitops.automate.ruletest import try_rule
    from mlops_gitops.workspace import parse_now

    return try_rule(open_workspace(repo), rule, parse_now(now), report)


def train(
    repo: Path | str, pipeline: str, now: str | None = None, commit: bool = True
) -> TrainResult:
    from mlops_gitops.train.pipeline import run
    from mlops_gitops.workspace import parse_now

    return run(open_workspace(repo), pipeline, parse_now(now), commit)


def serve(
    repo: Path | str,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    max_body: int | None = None,
    token_file: Path | None = None,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve the deployments of target `local` until interrupted; `announce(url)` is called
    once the address is bound. Without `token_file`, $MLOPS_GITOPS_SERVE_TOKEN is the token
    when set."""
    from mlops_gitops.serve.limits import Limits
    from mlops_gitops.serve.runner import serve as run_server

    limits = Limits() if max_body is None else Limits(max_body=max_body)
    run_server(Path(repo).resolve(), host, port, limits, token_file, announce)


def init(directory: Path | str = ".", ci: str = "github", name: str | None = None) -> Scaffold:
    """Scaffold a new GitOps repository in `directory` (created if missing)."""
    from mlops_gitops.scaffold import init_repository

    if ci not in ("github", "gitlab", "none"):
        raise ValueError(f"ci must be github, gitlab or none, not {ci!r}")
    return init_repository(Path(directory), ci, name)  # type: ignore[arg-type]


def state_restore(
    repo: Path | str = ".", rev: str | None = None, commit: bool = True
) -> StateRestored:
    """Restore `.mlops/state` from the last commit where it was intact (or `rev`), checked
    against the lineage and serial git history recorded, and commit it."""
    from mlops_gitops.state.restore import restore
    from mlops_gitops.workspace import LOCK_FILE

    workspace = open_workspace(repo)
    project = workspace.project
    return restore(
        workspace.root,
        project.state_dir,
        workspace.root / LOCK_FILE,
        rev,
        project.git.author,
        commit,
    )


def store_verify(repo: Path | str = ".", now: str | None = None) -> Verified:
    from mlops_gitops.apply.blobs import verify
    from mlops_gitops.workspace import parse_now

    return verify(open_workspace(repo), parse_now(now))


def store_restore(
    repo: Path | str = ".", source: str | None = None, now: str | None = None
) -> StoreRestored:
    from mlops_gitops.apply.blobs import restore
    from mlops_gitops.workspace import parse_now

    return restore(open_workspace(repo), parse_now(now), source)


def store_gc(repo: Path | str = ".", dry_run: bool = False, now: str | None = None) -> Collected:
    from mlops_gitops.apply.blobs import gc
    from mlops_gitops.workspace import parse_now

    return gc(open_workspace(repo), parse_now(now), dry_run)
