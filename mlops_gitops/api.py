"""The library's entry points, used by the CLI and by anyone scripting the tool."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_gitops.spec.check import ValidationResult, load, validate

__all__ = ["ValidationResult", "load", "validate"]

if TYPE_CHECKING:
    from mlops_gitops.apply.blobs import Collected, Verified
    from mlops_gitops.apply.blobs import Restored as StoreRestored
    from mlops_gitops.apply.run import ApplyResult
    from mlops_gitops.apply.status import Event
    from mlops_gitops.automate.reconcile import ReconcileResult
    from mlops_gitops.automate.rollback import SpecChange
    from mlops_gitops.compile.manifest import Manifest
    from mlops_gitops.monitor.run import MonitorOutcome
    from mlops_gitops.plan.model import Plan
    from mlops_gitops.scaffold import Scaffold
    from mlops_gitops.state.lock import LockInfo
    from mlops_gitops.state.restore import Restored as StateRestored
    from mlops_gitops.train.pipeline import TrainResult
    from mlops_gitops.workspace import Workspace


def compile_manifest(repo: Path | str = ".") -> Manifest:
    from mlops_gitops.compile.manifest import build

    return build(load(repo))


def write_manifest(repo: Path | str, out_dir: Path) -> Path:
    """Write `manifest.json` atomically into out_dir (never through a symlink there)."""
    from mlops_gitops import fsguard

    manifest = compile_manifest(repo)
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


def plan(repo: Path | str = ".", now: str | None = None) -> Plan:
    """Plans from the work tree; warns (MlopsWarning) when the specs it read are not all
    committed, since apply and CI act on committed content only."""
    import warnings

    from mlops_gitops.errors import MlopsWarning
    from mlops_gitops.workspace import parse_now

    workspace = open_workspace(repo)
    dirty = workspace.dirty()
    if dirty:
        more = f" and {len(dirty) - 1} more" if len(dirty) > 1 else ""
        warnings.warn(
            f"planned from uncommitted changes ({dirty[0]}{more}): this is not what apply "
            "or CI will do until they are committed",
            MlopsWarning,
            stacklevel=2,
        )
    return workspace.plan(parse_now(now))


def apply(
    repo: Path | str = ".",
    plan_file: Path | None = None,
    now: str | None = None,
    commit: bool = True,
    lock_timeout: float = 0.0,
    allow_dirty: bool = False,
) -> ApplyResult:
    from mlops_gitops.apply import run
    from mlops_gitops.workspace import parse_now

    return run.apply(
        open_workspace(repo), parse_now(now), plan_file, commit, lock_timeout, allow_dirty
    )


def force_unlock(repo: Path | str, lock_id: str, force: bool = False) -> LockInfo:
    """Remove the state lock `lock_id`; refused while its holder runs on this host unless
    `force` (which risks two applies at once)."""
    from mlops_gitops.state import lock
    from mlops_gitops.workspace import LOCK_FILE

    root = Path(repo).resolve()
    return lock.force_unlock(root / LOCK_FILE, lock_id, force, root)


def status(repo: Path | str = ".") -> dict[str, Any]:
    from mlops_gitops.apply.status import status as build_status

    return build_status(open_workspace(repo))


def history(
    repo: Path | str = ".", model: str | None = None, deployment: str | None = None
) -> list[Event]:
    from mlops_gitops.apply.status import history as read_history

    return read_history(open_workspace(repo), model, deployment)


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
