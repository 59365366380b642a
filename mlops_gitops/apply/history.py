"""The audit log read from git: who or what caused every applied step and tool commit.

Applied steps count only when their commit advances the committed state's serial (a trailer
typed by hand proves nothing). Their cause is the commit that last changed the object's spec
file before the spec commit they were applied from (for a new version: the commit that added
the version entry). A cause made by the tool (a rule, a retirement phase, a training run, a
rollback, a state restore) names the automation as the actor; otherwise the human who
authored it. The tool's other commits are events of their own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlops_gitops import git
from mlops_gitops.errors import MlopsError
from mlops_gitops.spec.provenance import Provenance
from mlops_gitops.state.store import META_FILE
from mlops_gitops.workspace import Workspace

CAUSE_KINDS = ("spec", "rule", "retirement", "train", "rollback", "restore", "monitor")


@dataclass(frozen=True)
class Actor:
    name: str
    email: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name} | ({"email": self.email} if self.email is not None else {})

    def describe(self) -> str:
        return f"{self.name} <{self.email}>" if self.email else self.name


@dataclass(frozen=True)
class Cause:
    commit: str
    kind: str


@dataclass(frozen=True)
class Event:
    time: str
    commit: str
    author: str
    action: str
    kind: str
    name: str
    version: str | None
    reason: str
    actor: Actor = field(default_factory=lambda: Actor("unknown"))
    cause: Cause | None = None
    model: str | None = None
    """The model of a deployment's event, for `--model`."""

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "commit": self.commit,
            "author": self.author,
            "action": self.action,
            "object": {"kind": self.kind, "name": self.name, "version": self.version},
            "reason": self.reason,
            "actor": self.actor.to_json(),
            "cause": (
                {"commit": self.cause.commit, "kind": self.cause.kind} if self.cause else None
            ),
        }


@dataclass(frozen=True)
class Filters:
    model: str | None = None
    deployment: str | None = None
    actor: str | None = None
    since: str | None = None
    until: str | None = None
    include_reports: bool = False


def person(identity: str) -> Actor:
    try:
        name, email = git.parse_author(identity)
    except MlopsError:
        return Actor(identity.strip() or "unknown")
    return Actor(name, email)


def origin(info: git.CommitInfo) -> tuple[Actor, str]:
    """Who made a commit and as what: automation by its trailers, else its author. Rollbacks
    and restores are run by a person: the committer (the author may be the tool's identity)."""
    if rule := info.trailer("Mlops-Rule"):
        return Actor(f"rule:{rule}"), "rule"
    if plan := info.trailer("Mlops-Retirement"):
        return Actor(f"retirement:{plan}"), "retirement"
    if pipeline := info.trailer("Mlops-Train"):
        return Actor(f"pipeline:{pipeline}"), "train"
    if info.trailer("Mlops-Restore"):
        return person(info.committer or info.author), "restore"
    if (info.trailer("Mlops-Edit") or "").startswith("rollback "):
        return person(info.committer or info.author), "rollback"
    if info.trailer("Mlops-Monitor"):
        return Actor("monitor"), "monitor"
    return person(info.author), "spec"


def history(workspace: Workspace, filters: Filters | None = None) -> list[Event]:
    """Every event, newest first, filtered; an unknown model or deployment is an error."""
    filters = filters or Filters()
    reader = _Reader(workspace)
    events = reader.events(filters.include_reports)
    _check_names(workspace, events, filters)
    keep = _matcher(filters)
    return [event for event in events if keep(event)]


class _Reader:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.root = workspace.root
        self.provenance = Provenance(workspace.root)
        self.genuine: set[str] = set()
        self.models_of = {n: d.spec.model for n, d in workspace.manifest.deployments.items()}
        for name, record in workspace.state_store.load().deployments.items():
            self.models_of.setdefault(name, record.model)
        self.rules = {n: r.spec.deployment for n, r in workspace.manifest.rules.items()}
        self.retirements = {
            n: (r.spec.model, r.spec.version) for n, r in workspace.manifest.retirements.items()
        }

    def events(self, include_reports: bool) -> list[Event]:
        commits = git.log(self.root)
        self.by_sha = {info.sha: info for info in commits}
        applied = _advancing(self.workspace, commits)
        events: list[Event] = []
        for info in commits:
            if info.sha in applied:
                events += self._steps(info)
                continue
            actor, kind = self.origin(info)
            if kind == "spec" or (kind == "monitor" and not include_reports):
                continue
            events += _tool_events(self, info, actor, kind)
        return events

    def origin(self, info: git.CommitInfo) -> tuple[Actor, str]:
        """`origin`, believed for rules and retirement phases only when the commit changed
        the progress record the tool writes with them; else the commit is its author's."""
        actor, kind = origin(info)
        if kind not in ("rule", "retirement") or info.sha in self.genuine:
            return actor, kind
        folder = "rules" if kind == "rule" else "retirements"
        name = info.trailer("Mlops-Rule" if kind == "rule" else "Mlops-Retirement") or ""
        record = f"{self.workspace.project.state_dir.strip('/')}/{folder}/{name}.json"
        after, before = git.read_files(self.root, [f"{info.sha}:{record}", f"{info.sha}^:{record}"])
        if after is None or after == before or "/" in name:
            return person(info.author), "spec"
        self.genuine.add(info.sha)
        return actor, kind

    def _steps(self, info: git.CommitInfo) -> list[Event]:
        step: tuple[str, str, str, str | None] | None = None
        pending: list[tuple[tuple[str, str, str, str | None], str]] = []
        for key, value in info.trailers:
            if key == "Mlops-Step":
                if step is not None:
                    pending.append((step, ""))
                step = _parse_step(value)
            elif key == "Mlops-Reason" and step is not None:
                pending.append((step, value))
                step = None
        if step is not None:
            pending.append((step, ""))
        claimed = info.trailer("Mlops-Spec-Commit")
        spec_commit = claimed if claimed in self.by_sha else info.parent
        if spec_commit not in self.by_sha:
            spec_commit = None  # a shallow clone's first commit: its parent is not here
        out = []
        # A commit lists its steps in the order they ran; newest first means the last first.
        for (action, kind, name, version), reason in reversed(pending):
            cause = self._cause(spec_commit, action, kind, name, version)
            actor, cause_kind = self.origin(self.by_sha[cause]) if cause else (Actor("?"), "")
            out.append(
                Event(
                    info.time,
                    info.sha,
                    info.author,
                    action,
                    kind,
                    name,
                    version,
                    reason,
                    actor,
                    Cause(cause, cause_kind) if cause else None,
                    self._model(kind, name),
                )
            )
        return out

    def _cause(
        self, spec_commit: str | None, action: str, kind: str, name: str, version: str | None
    ) -> str | None:
        if spec_commit is None:
            return None
        source = self.workspace.manifest.sources.get(f"{kind}/{name}")
        found = None
        if source and kind == "Model" and version and action == "register":
            found = self.provenance.version_added(spec_commit, source, version)
        if found is None and source:
            found = self.provenance.last_change(spec_commit, source)
        return found if found in self.by_sha else spec_commit

    def _model(self, kind: str, name: str) -> str | None:
        return name if kind == "Model" else self.models_of.get(name)


def _tool_events(reader: _Reader, info: git.CommitInfo, actor: Actor, kind: str) -> list[Event]:
    """The events of a commit the tool made outside apply (see `origin`)."""
    cause = Cause(info.sha, kind)

    def event(action: str, obj: str, name: str, version: str | None, reason: str) -> Event:
        model = name if obj == "Model" else reader.models_of.get(name)
        return Event(
            info.time,
            info.sha,
            info.author,
            action,
            obj,
            name,
            version,
            reason,
            actor,
            cause,
            model,
        )

    if kind == "rule":
        rule = info.trailer("Mlops-Rule") or ""
        target = info.trailer("Mlops-Deployment") or reader.rules.get(rule, "")
        fired = [value for key, value in info.trailers if key == "Mlops-Trigger"]
        why = f" (fired: {', '.join(fired)})" if fired else ""
        actions = [value for key, value in info.trailers if key == "Mlops-Action"]
        return [event("rule-action", "Deployment", target, None, a + why) for a in actions]
    if kind == "retirement":
        plan = info.trailer("Mlops-Retirement") or ""
        fallback: tuple[str, str | None] = reader.retirements.get(plan, ("", None))
        model, version = _model_version(info) or fallback
        edits = [value for key, value in info.trailers if key == "Mlops-Edit"]
        reason = f"phase {info.trailer('Mlops-Phase') or '?'}" + "".join(f"; {e}" for e in edits)
        return [event("retirement-phase", "Model", model, version, reason)]
    if kind == "train":
        model, version = _model_version(info) or (info.trailer("Mlops-Model") or "", None)
        failed = info.trailer("Mlops-Train-Status") == "failed"
        reason = info.trailer("Mlops-Reason") or info.subject
        return [event("train-failed" if failed else "train", "Model", model, version, reason)]
    if kind == "rollback":
        _, _, rest = (info.trailer("Mlops-Edit") or "").partition(" ")
        target, _, version = rest.partition(" ")
        name = target.partition("/")[2]
        return [event("rollback-edit", "Deployment", name, version or None, _reason(info))]
    if kind == "restore":
        reason = f"state restored from {info.trailer('Mlops-Restore')}"
        return [event("state-restore", "State", "state", None, reason)]
    name = info.trailer("Mlops-Monitor") or ""
    drift = info.trailer("Mlops-Drift-Share")
    reason = f"{info.trailer('Mlops-Records') or '?'} records, drift share {drift or '?'}"
    return [event("monitor-report", "Deployment", name, None, reason)]


def _reason(info: git.CommitInfo) -> str:
    return info.trailer("Mlops-Reason") or info.subject


def _model_version(info: git.CommitInfo) -> tuple[str, str | None] | None:
    value = info.trailer("Mlops-Version")
    if not value or len(value.split()) != 2:
        return None
    model, version = value.split()
    return model, version


def _check_names(workspace: Workspace, events: list[Event], filters: Filters) -> None:
    state = workspace.state_store.load()
    deployments = set(workspace.manifest.deployments) | set(state.deployments)
    models = set(workspace.manifest.models) | set(state.models)
    for event in events:
        if event.kind == "Deployment":
            deployments.add(event.name)
        if event.model:
            models.add(event.model)
    for flag, value, known in (
        ("--deployment", filters.deployment, deployments),
        ("--model", filters.model, models),
    ):
        if value is not None and value not in known:
            names = ", ".join(sorted(known)) or "none"
            raise MlopsError(
                f"{flag} {value!r} names nothing in the specs, the state or the history",
                hint=f"known: {names}",
            )


def _matcher(filters: Filters) -> Callable[[Event], bool]:
    since = _bound(filters.since, "--since", end=False)
    until = _bound(filters.until, "--until", end=True)
    wanted = (filters.actor or "").casefold()

    def keep(event: Event) -> bool:
        if filters.deployment and not (
            event.kind == "Deployment" and event.name == filters.deployment
        ):
            return False
        if filters.model and event.model != filters.model:
            return False
        if wanted and not _actor_matches(event.actor, wanted):
            return False
        when = _time(event.time)
        return (since is None or when >= since) and (until is None or when <= until)

    return keep


def _actor_matches(actor: Actor, wanted: str) -> bool:
    """By name or email; `rule:` alone matches every rule (likewise for the other kinds)."""
    names = {actor.name.casefold(), (actor.email or "").casefold()}
    return wanted in names or (wanted.endswith(":") and actor.name.casefold().startswith(wanted))


def _time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _bound(value: str | None, flag: str, end: bool) -> datetime | None:
    """An ISO date or time; a bare date is the day's start (--since) or end (--until)."""
    if not value:
        return None
    text = value.strip()
    if len(text) == 10:
        text += "T23:59:59" if end else "T00:00:00"
    try:
        return _time(text)
    except ValueError:
        raise MlopsError(
            f"{flag} {value!r} is not an ISO 8601 date or time such as 2026-11-03"
        ) from None


def _advancing(workspace: Workspace, commits: list[git.CommitInfo]) -> set[str]:
    """The commits with steps whose committed state meta (serial, lineage) moves from the
    first parent's serial N - 1 (0 without state) to the N their `Mlops-Serial` claims."""
    claims: dict[str, int] = {}
    for info in commits:
        keys = [key for key, _ in info.trailers]
        serials = [value for key, value in info.trailers if key == "Mlops-Serial"]
        if "Mlops-Step" in keys and len(serials) == 1 and serials[0].strip().isdigit():
            claims[info.sha] = int(serials[0])
    meta = f"{workspace.project.state_dir.strip('/')}/{META_FILE}"
    names = [name for sha in claims for name in (f"{sha}:{meta}", f"{sha}^:{meta}")]
    found = iter(git.read_files(workspace.root, names))
    applied = set()
    for sha, claimed in claims.items():
        after, before = _meta(next(found)), _meta(next(found))
        if after is None or after[1] != claimed or claimed < 1:
            continue
        if (before is None and claimed == 1) or (
            before is not None and before == (after[0], claimed - 1)
        ):
            applied.add(sha)
    return applied


def _meta(data: bytes | None) -> tuple[str, int] | None:
    """(lineage, serial) of a state meta file as committed, None when absent or unreadable."""
    if data is None:
        return None
    try:
        meta = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(meta, dict):
        return None
    lineage, serial = meta.get("lineage"), meta.get("serial")
    if not isinstance(lineage, str) or type(serial) is not int:
        return None
    return lineage, serial


def _parse_step(value: str) -> tuple[str, str, str, str | None] | None:
    parts = value.split()
    if len(parts) < 2 or "/" not in parts[1]:
        return None
    kind, _, name = parts[1].partition("/")
    return parts[0], kind, name, parts[2] if len(parts) > 2 else None
